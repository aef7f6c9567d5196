"""API views of the web app: who am I, and the dashboard's figures of a project."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.projects.permissions import can_create_projects, get_project

from .selectors import project_stats


class MeApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "Me",
            fields={
                "id": serializers.IntegerField(),
                "username": serializers.CharField(),
                "is_staff": serializers.BooleanField(),
                "can_create_projects": serializers.BooleanField(),
            },
        )
    )
    def get(self, request):
        user = request.user
        return Response(
            {
                "id": user.id,
                "username": user.username,
                "is_staff": user.is_staff,
                "can_create_projects": can_create_projects(user),
            }
        )


class ProjectStatsApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "ProjectStats",
            fields={
                "counts": serializers.DictField(),
                "jobs": serializers.DictField(),
                "active_model": serializers.DictField(allow_null=True),
                "prompt_engine": serializers.CharField(),
            },
        )
    )
    def get(self, request, project_id: int):
        return Response(project_stats(project=get_project(request, project_id)))

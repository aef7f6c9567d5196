"""API views of the project page's set-up: edit, reorder and remove categories; change and remove members.

Adding a category or a member goes through ``apis.CategoryListApi`` and ``apis.MembershipApi``.
Every change here needs the project admin role.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from . import setup_services
from .apis import CategorySerializer
from .models import Category, Role
from .permissions import get_for_role, get_project

MemberOut = inline_serializer(
    "MemberChanged", fields={"username": serializers.CharField(), "role": serializers.CharField()}
)


def _category(request, project_id: int, category_id: int) -> Category:
    """The category, if it belongs to ``project_id`` and the user is that project's admin (else 404/403)."""
    return get_for_role(request, Category.objects.filter(project_id=project_id), category_id, Role.ADMIN)


class CategoryDetailApi(APIView):
    class CategoryChangeInput(serializers.Serializer):
        name = serializers.CharField(max_length=100, required=False)
        color = serializers.CharField(max_length=7, required=False)

    @extend_schema(request=CategoryChangeInput, responses=CategorySerializer)
    def patch(self, request, project_id: int, category_id: int):
        category = _category(request, project_id, category_id)
        data = self.CategoryChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        category = setup_services.category_update(category=category, **data.validated_data)
        return Response(CategorySerializer(category).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, project_id: int, category_id: int):
        setup_services.category_delete(category=_category(request, project_id, category_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class CategoryOrderApi(APIView):
    class CategoryOrderInput(serializers.Serializer):
        order = serializers.ListField(child=serializers.IntegerField(), max_length=1000)

    @extend_schema(request=CategoryOrderInput, responses=CategorySerializer(many=True))
    def put(self, request, project_id: int):
        project = get_project(request, project_id, Role.ADMIN)
        data = self.CategoryOrderInput(data=request.data)
        data.is_valid(raise_exception=True)
        categories = setup_services.categories_reorder(project=project, order=data.validated_data["order"])
        return Response(CategorySerializer(categories, many=True).data)


class MemberDetailApi(APIView):
    class MemberChangeInput(serializers.Serializer):
        role = serializers.ChoiceField(Role.choices)

    @extend_schema(request=MemberChangeInput, responses=MemberOut)
    def patch(self, request, project_id: int, username: str):
        project = get_project(request, project_id, Role.ADMIN)
        data = self.MemberChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = setup_services.member_role_change(
            project=project, username=username, role=data.validated_data["role"]
        )
        return Response({"username": membership.user.username, "role": membership.role})

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, project_id: int, username: str):
        project = get_project(request, project_id, Role.ADMIN)
        setup_services.member_remove(project=project, username=username)
        return Response(status=status.HTTP_204_NO_CONTENT)

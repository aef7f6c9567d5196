from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView


class MeApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "Me",
            fields={
                "id": serializers.IntegerField(),
                "username": serializers.CharField(),
                "is_staff": serializers.BooleanField(),
            },
        )
    )
    def get(self, request):
        return Response(
            {"id": request.user.id, "username": request.user.username, "is_staff": request.user.is_staff}
        )

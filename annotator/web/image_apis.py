"""API views of "find any image": the filtered, searched, paginated list, and an image's neighbours in it."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.errors import ApplicationError
from annotator.projects.apis import ImageOutput
from annotator.projects.models import Image, ImageStatus
from annotator.projects.permissions import get_image, get_project

from .image_browser import ORDERS, ImageFilter, image_browse, image_neighbours

FILTER_PARAMETERS = [
    OpenApiParameter("status", str, enum=ImageStatus.values),
    OpenApiParameter("split", str, description="train, val or unassigned"),
    OpenApiParameter("assignee", str, description="username holding the image's lease, or 'none'"),
    OpenApiParameter("has_pre_labels", bool),
    OpenApiParameter("rejected", bool, description="a reviewer has rejected it at least once"),
    OpenApiParameter("q", str, description="part of the image's name"),
    OpenApiParameter("order", str, enum=list(ORDERS)),
]


def filters_from(params) -> ImageFilter:
    """The list's filters from query parameters; a bad value is a 400 naming the parameter."""
    return ImageFilter(
        status=params.get("status", ""),
        split=params.get("split", ""),
        assignee=params.get("assignee", "").strip(),
        has_pre_labels=_flag(params, "has_pre_labels"),
        rejected=_flag(params, "rejected"),
        search=params.get("q", "")[:200],
        order=params.get("order", "") or "upload",
    )


def _flag(params, name: str) -> bool | None:
    value = params.get(name, "").lower()
    if value in ("", "any"):
        return None
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise ApplicationError(f"{name} must be true or false, not '{value}'", field=name)


class ImagePages(PageNumberPagination):
    page_size = 24
    page_size_query_param = "page_size"
    max_page_size = 100


class ImageRowOutput(ImageOutput):
    """A row of the list: the image, and what the filters look at."""

    # Plain text in the schema: a second component with ImageOutput's split choices would make the
    # schema's enum names collide (drf-spectacular W001, which `check --deploy` fails on).
    split = serializers.CharField(help_text="train, val, or empty (unassigned)")
    has_pre_labels = serializers.BooleanField(read_only=True)
    rejected = serializers.BooleanField(read_only=True, help_text="a reviewer rejected it at least once")

    class Meta(ImageOutput.Meta):
        fields = [*ImageOutput.Meta.fields, "has_pre_labels", "rejected"]

    def to_representation(self, instance: Image) -> dict:
        row = super().to_representation(instance)
        row["has_pre_labels"] = bool(getattr(instance, "has_pre_labels", False))
        row["rejected"] = bool(getattr(instance, "was_rejected", False))
        return row


class ImageSearchApi(APIView):
    @extend_schema(
        parameters=[*FILTER_PARAMETERS, OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
        responses=ImageRowOutput(many=True),
    )
    def get(self, request, project_id: int):
        project = get_project(request, project_id)
        images = image_browse(project=project, filters=filters_from(request.query_params))
        paginator = ImagePages()
        page = paginator.paginate_queryset(images, request, view=self)
        return paginator.get_paginated_response(ImageRowOutput(page, many=True).data)


class ImageNeighboursApi(APIView):
    @extend_schema(
        parameters=FILTER_PARAMETERS,
        responses=inline_serializer(
            "ImageNeighbours",
            fields={
                "previous": serializers.IntegerField(allow_null=True),
                "next": serializers.IntegerField(allow_null=True),
                "position": serializers.IntegerField(allow_null=True),
                "count": serializers.IntegerField(),
            },
        ),
    )
    def get(self, request, image_id: int):
        image = get_image(request, image_id)
        n = image_neighbours(image=image, filters=filters_from(request.query_params))
        return Response({"previous": n.previous, "next": n.next, "position": n.position, "count": n.count})

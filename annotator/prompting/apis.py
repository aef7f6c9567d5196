"""``POST /images/{id}/segment``: prompts in, a polygon out (or 202 while the embedding is computed)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.projects.permissions import get_image, get_project

from .engine import engine_choice
from .services import image_segment


class PromptEngineApi(APIView):
    """``GET /projects/{id}/prompt-engine``: which engine the click tool runs, and why."""

    @extend_schema(
        responses=inline_serializer(
            "PromptEngine",
            fields={
                "engine": serializers.CharField(help_text="sam | offline | grabcut"),
                "label": serializers.CharField(help_text="what the button says, e.g. 'Offline engine'"),
                "reason": serializers.CharField(
                    help_text="why this engine, e.g. 'no SAM checkpoint configured'"
                ),
            },
        )
    )
    def get(self, request, project_id: int):
        choice = engine_choice(get_project(request, project_id).prompt_engine)
        return Response({"engine": choice.name, "label": choice.label, "reason": choice.reason})


class SegmentApi(APIView):
    class SegmentInput(serializers.Serializer):
        points = serializers.ListField(
            child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2),
            required=False,
            default=list,
            max_length=100,
            help_text="[[x, y], ...] in image pixels",
        )
        labels = serializers.ListField(
            child=serializers.IntegerField(),
            required=False,
            default=list,
            max_length=100,
            help_text="1 positive, 0 negative; one per point",
        )
        box = serializers.ListField(
            child=serializers.FloatField(),
            min_length=4,
            max_length=4,
            required=False,
            allow_null=True,
            default=None,
            help_text="[x0, y0, x1, y1]",
        )
        mask_shape = serializers.JSONField(
            required=False,
            allow_null=True,
            default=None,
            help_text="a previous shape (MultiPolygon) to refine",
        )

    @extend_schema(
        request=SegmentInput,
        responses={
            200: inline_serializer(
                "SegmentResult",
                fields={
                    "shape": serializers.JSONField(),
                    "score": serializers.FloatField(),
                    "engine": serializers.CharField(),
                    "vertex_count": serializers.IntegerField(),
                    "iou_with_mask": serializers.FloatField(),
                },
            ),
            202: inline_serializer(
                "SegmentPending",
                fields={
                    "status": serializers.CharField(),
                    "progress": serializers.IntegerField(),
                    "engine": serializers.CharField(),
                },
            ),
        },
    )
    def post(self, request, image_id: int):
        image = get_image(request, image_id)
        data = self.SegmentInput(data=request.data)
        data.is_valid(raise_exception=True)
        answer = image_segment(image=image, **data.validated_data)
        if not answer.ready:
            return Response(
                {"status": "embedding", "progress": answer.progress, "engine": answer.engine},
                status=status.HTTP_202_ACCEPTED,
            )
        return Response(
            {
                "shape": answer.shape,
                "score": answer.score,
                "engine": answer.engine,
                "vertex_count": answer.vertex_count,
                "iou_with_mask": answer.iou_with_mask,
            }
        )

"""API views for an image's annotation set, its lifecycle (submit, review), leases and revisions."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.errors import NotFoundError
from annotator.projects.apis import ImageOutput
from annotator.projects.models import Role
from annotator.projects.permissions import get_image, get_project

from . import services
from .models import Source
from .selectors import annotation_set_json, open_rejections, review_state, revisions_for_image


class ShapeField(serializers.JSONField):
    """A shape from the request body, checked by ``clean_shape`` in the service."""

    def to_internal_value(self, data):
        # A list parsed from a JSON body always serialises again: skip the base class's json.dumps
        # check, one per annotation of every save.
        return data if isinstance(data, list) else super().to_internal_value(data)


class AnnotationInput(serializers.Serializer):
    category = serializers.IntegerField()
    shape = ShapeField(help_text="MultiPolygon [[exterior, hole, ...], ...]; rings of [x, y]")
    source = serializers.ChoiceField(Source.choices, default=Source.MANUAL)
    score = serializers.FloatField(required=False, allow_null=True, default=None, min_value=0, max_value=1)


class AnnotationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    category = serializers.IntegerField()
    shape = serializers.JSONField()
    source = serializers.CharField()
    score = serializers.FloatField(allow_null=True)
    bbox = serializers.ListField(child=serializers.FloatField())
    area = serializers.FloatField()


class RejectionOutput(serializers.Serializer):
    comment = serializers.CharField()
    by = serializers.CharField(allow_null=True)
    at = serializers.DateTimeField()


class ReviewStateOutput(serializers.Serializer):
    submitted_by = serializers.CharField(allow_null=True, help_text="who submitted the image last")
    rejection = RejectionOutput(allow_null=True, help_text="the rejection to act on, until resubmitted")


AnnotationSetOutput = inline_serializer(
    "AnnotationSet",
    fields={
        "version": serializers.IntegerField(),
        "annotations": AnnotationOutput(many=True),
    },
)


class AnnotationSetApi(APIView):
    class AnnotationSetInput(serializers.Serializer):
        expected_version = serializers.IntegerField(min_value=0)
        annotations = AnnotationInput(many=True, max_length=5000)

    @extend_schema(responses=AnnotationSetOutput)
    def get(self, request, image_id: int):
        image = get_image(request, image_id)
        return Response({"version": image.version, "annotations": annotation_set_json(image)})

    @extend_schema(request=AnnotationSetInput, responses={200: AnnotationSetOutput})
    def put(self, request, image_id: int):
        image = get_image(request, image_id)
        data = self.AnnotationSetInput(data=request.data)
        data.is_valid(raise_exception=True)
        image = services.annotations_save(
            image=image,
            annotations=data.validated_data["annotations"],
            user=request.user,
            expected_version=data.validated_data["expected_version"],
        )
        return Response({"version": image.version, "annotations": image.annotation_set})


class SubmitApi(APIView):
    class SubmitInput(serializers.Serializer):
        expected_version = serializers.IntegerField(min_value=0)

    @extend_schema(request=SubmitInput, responses=ImageOutput)
    def post(self, request, image_id: int):
        image = get_image(request, image_id)
        data = self.SubmitInput(data=request.data)
        data.is_valid(raise_exception=True)
        image = services.image_submit(image=image, user=request.user, **data.validated_data)
        return Response(ImageOutput(image).data)


class ReviewApi(APIView):
    class ReviewInput(serializers.Serializer):
        decision = serializers.ChoiceField(["accept", "reject"])
        comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
        expected_version = serializers.IntegerField(
            min_value=0, required=False, allow_null=True, default=None
        )

    @extend_schema(responses=ReviewStateOutput)
    def get(self, request, image_id: int):
        """Who submitted the image last, and the rejection its annotator has to act on (or null)."""
        return Response(ReviewStateOutput(review_state(image=get_image(request, image_id))).data)

    @extend_schema(request=ReviewInput, responses=ImageOutput)
    def post(self, request, image_id: int):
        image = get_image(request, image_id, Role.REVIEWER)
        data = self.ReviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        image = services.image_review(image=image, user=request.user, **data.validated_data)
        return Response(ImageOutput(image).data)


class FixAndAcceptApi(APIView):
    class FixAndAcceptInput(serializers.Serializer):
        expected_version = serializers.IntegerField(min_value=0)
        annotations = AnnotationInput(many=True, max_length=5000)
        comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)

    @extend_schema(request=FixAndAcceptInput, responses=ImageOutput)
    def post(self, request, image_id: int):
        image = get_image(request, image_id, Role.REVIEWER)
        data = self.FixAndAcceptInput(data=request.data)
        data.is_valid(raise_exception=True)
        image = services.image_fix_and_accept(image=image, user=request.user, **data.validated_data)
        return Response(ImageOutput(image).data)


class RejectionListApi(APIView):
    """``GET /projects/{id}/rejections``: the open rejections of the project's images (for list rows)."""

    @extend_schema(
        responses=inline_serializer(
            "ImageRejection",
            fields={
                "image": serializers.IntegerField(),
                "comment": serializers.CharField(),
                "by": serializers.CharField(allow_null=True),
                "at": serializers.DateTimeField(),
            },
            many=True,
        )
    )
    def get(self, request, project_id: int):
        rejections = open_rejections(project=get_project(request, project_id))
        return Response(
            [{"image": image_id, **RejectionOutput(r).data} for image_id, r in sorted(rejections.items())]
        )


class QueuedImageOutput(ImageOutput):
    """The image's fields, plus the rejection the annotator must act on (null when none)."""

    rejection = RejectionOutput(allow_null=True)
    # A plain string here: a second enum for the same choices would collide with ImageOutput's in the schema.
    split = serializers.CharField()

    class Meta(ImageOutput.Meta):
        fields = [*ImageOutput.Meta.fields, "rejection"]


class QueueNextApi(APIView):
    @extend_schema(
        request=None,
        responses={
            200: QueuedImageOutput,
            204: None,
        },
    )
    def post(self, request, project_id: int):
        project = get_project(request, project_id)
        image = services.image_claim_next(project=project, user=request.user)
        if image is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(
            {**ImageOutput(image).data, "rejection": open_rejections(image_ids=[image.pk]).get(image.pk)}
        )


class LeaseApi(APIView):
    @extend_schema(request=None, responses=ImageOutput)
    def post(self, request, image_id: int):
        image = services.lease_renew(image=get_image(request, image_id), user=request.user)
        return Response(ImageOutput(image).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, image_id: int):
        services.lease_release(image=get_image(request, image_id), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RevisionListApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "Revision",
            many=True,
            fields={
                "id": serializers.IntegerField(),
                "version": serializers.IntegerField(),
                "action": serializers.CharField(),
                "author": serializers.CharField(allow_null=True),
                "comment": serializers.CharField(),
                "created_at": serializers.DateTimeField(),
                "annotations": serializers.JSONField(),
            },
        )
    )
    def get(self, request, image_id: int):
        image = get_image(request, image_id)
        return Response(
            [
                {
                    "id": r.id,
                    "version": r.version,
                    "action": r.action,
                    "author": r.author.username if r.author else None,
                    "comment": r.comment,
                    "created_at": r.created_at,
                    "annotations": r.annotations,
                }
                for r in revisions_for_image(image=image)[:200]
            ]
        )


class PredictionApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "PredictionOut",
            fields={
                "model_version": serializers.CharField(allow_null=True),
                "instances": serializers.JSONField(),
                "uncertainty": serializers.FloatField(allow_null=True),
                "created_at": serializers.DateTimeField(),
            },
        )
    )
    def get(self, request, image_id: int):
        image = get_image(request, image_id)
        prediction = image.predictions.select_related("model_version").first()
        if prediction is None:
            raise NotFoundError("This image has no prediction yet")
        return Response(
            {
                "model_version": prediction.model_version.name if prediction.model_version else None,
                "instances": prediction.instances,
                "uncertainty": prediction.uncertainty,
                "created_at": prediction.created_at,
            }
        )

"""API of the trust gate: its figures per model version, the admin's pins, an image's suggestions."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.errors import ApplicationError, NotFoundError
from annotator.projects.models import Image, Project, Role
from annotator.projects.permissions import get_image, get_project

from .models import ModelVersion, TrustGate, TrustGatePin
from .prelabels import suggestion_reject, trust_gate_pin
from .services import active_model_for
from .trust import MIN_REVIEWED, PrelabelPolicy, prelabel_policy, trust_gate_for

PIN_FIELDS = {"pinned_mode": "mode", "pinned_threshold": "threshold"}

_version = inline_serializer(
    "GateModelVersion",
    fields={
        "id": serializers.IntegerField(),
        "name": serializers.CharField(),
        "status": serializers.CharField(),
    },
)
_applied = inline_serializer(
    "GateApplied",
    fields={
        "mode": serializers.CharField(),
        "threshold": serializers.FloatField(allow_null=True),
        "pinned": serializers.BooleanField(),
    },
)
GateOutput = inline_serializer(
    "TrustGateFigures",
    fields={
        "model_version": _version,
        "mode": serializers.CharField(help_text="prelabel | suggest"),
        "threshold": serializers.FloatField(allow_null=True),
        "precision": serializers.FloatField(allow_null=True),
        "recall": serializers.FloatField(allow_null=True),
        "seconds_saved_per_image": serializers.FloatField(allow_null=True),
        "reviewed_images": serializers.IntegerField(),
        "reason": serializers.CharField(),
        "learned": serializers.BooleanField(),
        "curve": serializers.ListField(child=serializers.DictField()),
        "computed_at": serializers.DateTimeField(
            allow_null=True,
            help_text="null: not computed yet, the checkpoint's default while the gate is being learned",
        ),
        "applied": _applied,
    },
)
TrustGateOutput = inline_serializer(
    "TrustGate",
    fields={
        "active": GateOutput,
        "versions": serializers.ListField(child=serializers.DictField()),
        "pin": inline_serializer(
            "TrustGatePin",
            fields={
                "mode": serializers.CharField(allow_null=True),
                "threshold": serializers.FloatField(allow_null=True),
                "changed_by": serializers.CharField(allow_null=True),
                "changed_at": serializers.DateTimeField(allow_null=True),
            },
        ),
        "min_reviewed": serializers.IntegerField(),
    },
)


def gate_json(gate: TrustGate, policy: PrelabelPolicy | None = None) -> dict[str, Any]:
    version = gate.model_version
    out = {
        "model_version": {"id": version.id, "name": version.name, "status": version.status},
        "mode": gate.mode,
        "threshold": gate.threshold,
        "precision": gate.precision,
        "recall": gate.recall,
        "seconds_saved_per_image": gate.seconds_saved_per_image,
        "reviewed_images": gate.reviewed_images,
        "reason": gate.reason,
        "learned": gate.learned,
        "curve": gate.curve,
        "computed_at": serializers.DateTimeField().to_representation(gate.computed_at),
    }
    if policy is not None:
        out["applied"] = {"mode": policy.mode, "threshold": policy.threshold, "pinned": policy.pinned}
    return out


def trust_gate_json(project: Project) -> dict[str, Any]:
    version = active_model_for(project)
    active = None
    if version is not None:
        gate = trust_gate_for(project=project, version=version)
        active = gate_json(gate, prelabel_policy(project=project, version=version, gate=gate))
    versions = [
        gate_json(g)
        for g in TrustGate.objects.filter(project=project)
        .select_related("model_version")
        .order_by("-model_version__created_at", "-model_version_id")
    ]
    pin = TrustGatePin.objects.filter(project=project).select_related("changed_by").first()
    return {
        "active": active,
        "versions": versions,
        "pin": {
            "mode": (pin.mode or None) if pin else None,
            "threshold": pin.threshold if pin else None,
            "changed_by": pin.changed_by.username if pin and pin.changed_by else None,
            "changed_at": serializers.DateTimeField().to_representation(pin.changed_at) if pin else None,
        },
        "min_reviewed": MIN_REVIEWED,
    }


class TrustGateApi(APIView):
    @extend_schema(responses=TrustGateOutput)
    def get(self, request, project_id: int):
        return Response(trust_gate_json(get_project(request, project_id)))

    @extend_schema(
        request=inline_serializer(
            "TrustGatePinInput",
            fields={
                "pinned_mode": serializers.CharField(
                    allow_null=True, required=False, help_text="prelabel | suggest | null (the gate decides)"
                ),
                "pinned_threshold": serializers.FloatField(
                    allow_null=True, required=False, min_value=0, max_value=1
                ),
            },
        ),
        responses=TrustGateOutput,
    )
    def patch(self, request, project_id: int):
        project = get_project(request, project_id, Role.ADMIN)
        data = request.data
        if not isinstance(data, dict):
            raise ApplicationError("Send a JSON object with pinned_mode and/or pinned_threshold")
        unknown = sorted(set(data) - set(PIN_FIELDS))
        if unknown:
            raise ApplicationError(
                f"Unknown trust gate setting(s): {', '.join(unknown)}; use pinned_mode, pinned_threshold",
                field=unknown[0],
            )
        if not data:
            raise ApplicationError("Nothing to change: send pinned_mode and/or pinned_threshold")
        mode = data.get("pinned_mode")
        if mode is not None and not isinstance(mode, str):
            raise ApplicationError("pinned_mode must be 'prelabel', 'suggest' or null", field="pinned_mode")
        trust_gate_pin(
            project=project,
            user=request.user,
            mode=mode,
            threshold=data.get("pinned_threshold"),
            fields={PIN_FIELDS[key] for key in data},
        )
        return Response(trust_gate_json(project))


SuggestionsOutput = inline_serializer(
    "ImageSuggestions",
    fields={
        "model_version": inline_serializer(
            "SuggestionVersion",
            fields={"id": serializers.IntegerField(), "name": serializers.CharField()},
            allow_null=True,
        ),
        "mode": serializers.CharField(),
        "threshold": serializers.FloatField(allow_null=True),
        "pinned": serializers.BooleanField(),
        "instances": serializers.ListField(child=serializers.DictField()),
        "rejected": serializers.ListField(
            child=serializers.IntegerField(), help_text="indexes an annotator rejected: not offered again"
        ),
    },
)


def image_suggestions_json(image: Image) -> dict[str, Any]:
    """The active model's shapes for the image, best first, how the gate shows them, which were rejected."""
    version: ModelVersion | None = active_model_for(image.project)
    if version is None:
        return {
            "model_version": None,
            "mode": "suggest",
            "threshold": None,
            "pinned": False,
            "instances": [],
            "rejected": [],
        }
    policy = prelabel_policy(project=image.project, version=version)
    prediction = image.predictions.filter(model_version=version).first()
    instances = prediction.instances if prediction else []
    ranked = sorted(enumerate(instances), key=lambda pair: -float(pair[1]["score"]))
    return {
        "model_version": {"id": version.id, "name": version.name},
        "mode": policy.mode,
        "threshold": policy.threshold,
        "pinned": policy.pinned,
        "instances": [
            {"index": i, "category": inst["category"], "shape": inst["shape"], "score": inst["score"]}
            for i, inst in ranked
        ],
        "rejected": prediction.rejected if prediction else [],
    }


class ImageSuggestionsApi(APIView):
    @extend_schema(responses=SuggestionsOutput)
    def get(self, request, image_id: int):
        """The active model's shapes for the image, best first, and how the gate shows them."""
        return Response(image_suggestions_json(get_image(request, image_id)))


class ImageSuggestionRejectApi(APIView):
    @extend_schema(
        request=inline_serializer("SuggestionRejectInput", fields={"index": serializers.IntegerField()}),
        responses=SuggestionsOutput,
    )
    def post(self, request, image_id: int):
        """Reject one suggestion of the active model (its ``index``): it is not offered again.

        The image's annotation set is not touched.
        """
        image = get_image(request, image_id)
        if not isinstance(request.data, dict) or "index" not in request.data:
            raise ApplicationError(
                "Send a JSON object with the index of the suggestion to reject", field="index"
            )
        version = active_model_for(image.project)
        prediction = image.predictions.filter(model_version=version).first() if version is not None else None
        if prediction is None:
            raise NotFoundError(
                f"Image #{image.pk} has no suggestions from the active model to reject",
                code="no_suggestions",
                field="index",
            )
        suggestion_reject(prediction=prediction, index=request.data["index"])
        return Response(image_suggestions_json(image))

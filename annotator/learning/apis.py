"""API of the learning loop: training runs, the model registry, promotion/rollback, acceptance metrics."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.jobs.models import BatchJob
from annotator.projects.models import Role
from annotator.projects.permissions import get_for_role, get_image, get_project

from . import registry, training
from .acceptance import acceptance_by_version
from .models import ModelVersion, TrainingRun
from .selectors import (
    accepted_since_last_run,
    model_versions_for,
    prelabel_state,
    training_data_for,
    training_runs_for,
)
from .services import active_model_for, base_model_version


class ModelVersionOutput(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "project",
            "parent",
            "name",
            "status",
            "prelabel_threshold",
            "metrics",
            "data_summary",
            "created_at",
            "promoted_at",
        ]


class TrainingRunOutput(serializers.ModelSerializer):
    requested_by = serializers.CharField(source="requested_by.username", default=None)
    result_version = ModelVersionOutput(read_only=True)

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "project",
            "status",
            "progress",
            "message",
            "trigger",
            "epoch",
            "epochs",
            "loss",
            "eta_seconds",
            "base_version",
            "result_version",
            "report",
            "requested_by",
            "cancel_requested",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
        ]


class BatchJobOutput(serializers.ModelSerializer):
    class Meta:
        model = BatchJob
        fields = ["id", "kind", "status", "progress", "done", "total", "message", "created_at", "finished_at"]


def get_run(request, run_id: int, minimum: str = Role.ANNOTATOR) -> TrainingRun:
    runs = TrainingRun.objects.select_related("project", "result_version")
    return get_for_role(request, runs, run_id, minimum)


def get_version(request, version_id: int, minimum: str = Role.ANNOTATOR) -> ModelVersion:
    return get_for_role(request, ModelVersion.objects.select_related("project"), version_id, minimum)


def _rescore_out(job: BatchJob | None) -> dict | None:
    return BatchJobOutput(job).data if job else None


class TrainingRunListApi(APIView):
    @extend_schema(responses=TrainingRunOutput(many=True))
    def get(self, request, project_id: int):
        project = get_project(request, project_id)
        return Response(TrainingRunOutput(training_runs_for(project=project)[:50], many=True).data)

    @extend_schema(request=None, responses={202: TrainingRunOutput})
    def post(self, request, project_id: int):
        project = get_project(request, project_id, Role.ADMIN)
        run = training.training_run_request(project=project, user=request.user, trigger="manual")
        return Response(TrainingRunOutput(run).data, status=status.HTTP_202_ACCEPTED)


class TrainingRunDetailApi(APIView):
    @extend_schema(responses=TrainingRunOutput)
    def get(self, request, run_id: int):
        return Response(TrainingRunOutput(get_run(request, run_id)).data)


class TrainingRunCancelApi(APIView):
    @extend_schema(request=None, responses=TrainingRunOutput)
    def post(self, request, run_id: int):
        run = training.training_run_cancel(run=get_run(request, run_id, Role.ADMIN))
        return Response(TrainingRunOutput(run).data)


class ModelVersionListApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "ModelRegistry",
            fields={
                "active": serializers.DictField(allow_null=True),
                "base": serializers.DictField(allow_null=True),
                "versions": ModelVersionOutput(many=True),
                "accepted_since_last_run": serializers.IntegerField(),
                "retrain_threshold": serializers.IntegerField(),
                "training_data": inline_serializer(
                    "TrainingData",
                    fields={
                        "train": serializers.IntegerField(),
                        "val": serializers.IntegerField(),
                        "min_train": serializers.IntegerField(),
                        "min_val": serializers.IntegerField(),
                        "ready": serializers.BooleanField(),
                        "reason": serializers.CharField(allow_null=True),
                    },
                ),
            },
        )
    )
    def get(self, request, project_id: int):
        project = get_project(request, project_id)
        active, base = active_model_for(project), base_model_version()
        return Response(
            {
                "active": ModelVersionOutput(active).data if active else None,
                "base": ModelVersionOutput(base).data if base else None,
                "versions": ModelVersionOutput(model_versions_for(project=project), many=True).data,
                "accepted_since_last_run": accepted_since_last_run(project=project),
                "retrain_threshold": project.retrain_threshold,
                "training_data": training_data_for(project=project).as_dict(),
            }
        )


class ModelVersionPromoteApi(APIView):
    class PromoteInput(serializers.Serializer):
        confirm_worse = serializers.BooleanField(
            default=False,
            help_text="promote even if its mask AP on the val split is below the active model's",
        )

    @extend_schema(
        request=PromoteInput,
        responses=inline_serializer(
            "Promoted", fields={"active": ModelVersionOutput(), "rescore": BatchJobOutput(allow_null=True)}
        ),
    )
    def post(self, request, version_id: int):
        version = get_version(request, version_id, Role.ADMIN)
        data = self.PromoteInput(data=request.data)
        data.is_valid(raise_exception=True)
        confirmed = data.validated_data["confirm_worse"]
        job = registry.version_promote(
            version=version,
            user=request.user,
            reason=f"manual by {request.user}" + (" (confirmed although worse on val)" if confirmed else ""),
            confirm_worse=confirmed,
        )
        version.refresh_from_db()
        return Response({"active": ModelVersionOutput(version).data, "rescore": _rescore_out(job)})


class ModelRollbackApi(APIView):
    @extend_schema(
        request=None,
        responses=inline_serializer(
            "RolledBack",
            fields={
                "active": ModelVersionOutput(allow_null=True),
                "rescore": BatchJobOutput(allow_null=True),
            },
        ),
    )
    def post(self, request, project_id: int):
        project = get_project(request, project_id, Role.ADMIN)
        job = registry.version_rollback(project=project, user=request.user)
        project.refresh_from_db()
        active = active_model_for(project)
        return Response(
            {"active": ModelVersionOutput(active).data if active else None, "rescore": _rescore_out(job)}
        )


class AcceptanceApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "AcceptanceByVersion",
            fields={
                "model_version": serializers.IntegerField(),
                "name": serializers.CharField(),
                "status": serializers.CharField(allow_null=True),
                "images": serializers.IntegerField(),
                "pre_labels": serializers.IntegerField(),
                "mean_iou": serializers.FloatField(),
                "unchanged_share": serializers.FloatField(allow_null=True),
            },
            many=True,
        )
    )
    def get(self, request, project_id: int):
        project = get_project(request, project_id)
        return Response(acceptance_by_version(project=project))


class RescoreJobListApi(APIView):
    @extend_schema(responses=BatchJobOutput(many=True))
    def get(self, request, project_id: int):
        project = get_project(request, project_id)
        jobs = project.batch_jobs.filter(kind=BatchJob.Kind.RESCORE).order_by("-created_at")[:20]
        return Response(BatchJobOutput(jobs, many=True).data)


class PrelabelStateApi(APIView):
    """``GET /images/{id}/prelabels``: pending, ready (and how shown) or none; polled while pending."""

    @extend_schema(
        responses=inline_serializer(
            "PrelabelState",
            fields={
                "state": serializers.ChoiceField(["pending", "ready", "none"]),
                "version": serializers.IntegerField(),
                "shown_as": serializers.CharField(allow_null=True),
                "instances": serializers.IntegerField(help_text="shapes the model predicted"),
            },
        )
    )
    def get(self, request, image_id: int):
        return Response(prelabel_state(image=get_image(request, image_id)))

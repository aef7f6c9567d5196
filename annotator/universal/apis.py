"""API of the fleet loop: taxonomy mapping (with a dry run), contribution, base runs and lineage, rebase."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.errors import ApplicationError, NotFoundError
from annotator.learning.apis import TrainingRunOutput
from annotator.learning.models import TrainingRun
from annotator.learning.services import base_model_version
from annotator.learning.training import training_run_cancel
from annotator.projects.models import Role
from annotator.projects.permissions import IsStaff, get_project

from . import selectors, services, training


def _int_keys(mapping: dict) -> dict[int, str]:
    try:
        return {int(k): (v or "") for k, v in mapping.items()}
    except (TypeError, ValueError) as exc:
        raise ApplicationError("mapping keys are category ids", field="mapping") from exc


class TaxonomyApi(APIView):
    class TaxonomyInput(serializers.Serializer):
        mapping = serializers.DictField(
            child=serializers.CharField(allow_blank=True),
            help_text="category id -> universal class ('' = project-only)",
        )
        dry_run = serializers.BooleanField(default=False, help_text="show the effect without saving")

    preview_schema = inline_serializer(
        "TaxonomyPreview",
        fields={
            "universal_names": serializers.ListField(child=serializers.CharField()),
            "saved": serializers.BooleanField(),
            "categories": serializers.ListField(child=serializers.DictField()),
            "universal": serializers.DictField(),
            "project_only": serializers.ListField(child=serializers.DictField()),
            "contributes": serializers.BooleanField(),
            "annotations_contributed": serializers.IntegerField(),
            "annotations_left_out": serializers.IntegerField(),
        },
    )

    @extend_schema(responses=preview_schema)
    def get(self, request, project_id: int):
        project = get_project(request, project_id)
        return Response(
            {
                "universal_names": selectors.universal_names(),
                "saved": True,
                **selectors.taxonomy_preview(project=project),
            }
        )

    @extend_schema(request=TaxonomyInput, responses=preview_schema)
    def put(self, request, project_id: int):
        project = get_project(request, project_id, Role.ADMIN)
        data = self.TaxonomyInput(data=request.data)
        data.is_valid(raise_exception=True)
        mapping = services.taxonomy_validate(
            project=project, mapping=_int_keys(data.validated_data["mapping"])
        )
        if data.validated_data["dry_run"]:
            preview = selectors.taxonomy_preview(project=project, mapping=mapping)
        else:
            preview = services.taxonomy_set(project=project, mapping=mapping, user=request.user)
        return Response(
            {
                "universal_names": selectors.universal_names(),
                "saved": not data.validated_data["dry_run"],
                **preview,
            }
        )


def _contribution_out(project) -> dict:
    used_by = [
        {"id": v["id"], "name": v["name"], "images": v["data_summary"]["projects"][str(project.pk)]["images"]}
        for v in selectors.base_lineage()
        if str(project.pk) in (v["data_summary"] or {}).get("projects", {})
    ]
    return {
        "contribute": project.contribute_to_universal,
        "changed_by": project.contribution_changed_by.get_username()
        if project.contribution_changed_by
        else None,
        "changed_at": project.contribution_changed_at,
        "used_by_base_versions": used_by,
        "next_run_images": selectors.base_training_images().filter(project=project).count(),
    }


contribution_schema = inline_serializer(
    "Contribution",
    fields={
        "contribute": serializers.BooleanField(),
        "changed_by": serializers.CharField(allow_null=True),
        "changed_at": serializers.DateTimeField(allow_null=True),
        "used_by_base_versions": serializers.ListField(child=serializers.DictField()),
        "next_run_images": serializers.IntegerField(),
    },
)


class ContributionApi(APIView):
    class ContributionInput(serializers.Serializer):
        contribute = serializers.BooleanField()

    @extend_schema(responses=contribution_schema)
    def get(self, request, project_id: int):
        return Response(_contribution_out(get_project(request, project_id)))

    @extend_schema(request=ContributionInput, responses=contribution_schema)
    def put(self, request, project_id: int):
        project = get_project(request, project_id, Role.ADMIN)
        data = self.ContributionInput(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.contribution_set(project=project, user=request.user, **data.validated_data)
        return Response(_contribution_out(project))


class BaseUpdateApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "BaseUpdate",
            fields={
                "available": serializers.BooleanField(),
                "base": serializers.DictField(allow_null=True),
                "current": serializers.DictField(allow_null=True),
                "on_base": serializers.CharField(allow_null=True),
            },
        )
    )
    def get(self, request, project_id: int):
        return Response(selectors.base_update_for(project=get_project(request, project_id)))


class RebaseApi(APIView):
    @extend_schema(request=None, responses={202: TrainingRunOutput})
    def post(self, request, project_id: int):
        project = get_project(request, project_id, Role.ADMIN)
        run = services.project_rebase(project=project, user=request.user)
        return Response(TrainingRunOutput(run).data, status=status.HTTP_202_ACCEPTED)


def _base_run(run_id: int) -> TrainingRun:
    run = selectors.base_runs().filter(pk=run_id).first()
    if run is None:
        raise NotFoundError("Base run not found")
    return run


class BaseRunListApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(responses=TrainingRunOutput(many=True))
    def get(self, request):
        return Response(TrainingRunOutput(selectors.base_runs()[:50], many=True).data)

    @extend_schema(request=None, responses={202: TrainingRunOutput})
    def post(self, request):
        run = training.base_run_request(user=request.user, trigger="manual")
        return Response(TrainingRunOutput(run).data, status=status.HTTP_202_ACCEPTED)


class BaseRunDetailApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(responses=TrainingRunOutput)
    def get(self, request, run_id: int):
        return Response(TrainingRunOutput(_base_run(run_id)).data)


class BaseRunCancelApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(request=None, responses=TrainingRunOutput)
    def post(self, request, run_id: int):
        return Response(TrainingRunOutput(training_run_cancel(run=_base_run(run_id))).data)


class BaseLineageApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        responses=inline_serializer(
            "BaseLineage",
            fields={
                "current": serializers.IntegerField(allow_null=True),
                "versions": serializers.ListField(child=serializers.DictField()),
                "contributed_since_last_run": serializers.IntegerField(),
            },
        )
    )
    def get(self, request):
        current = base_model_version()
        return Response(
            {
                "current": current.pk if current else None,
                "versions": selectors.base_lineage(),
                "contributed_since_last_run": selectors.contributed_since_last_base_run(),
            }
        )

"""API views for COCO export and import. Thin: validate, call a service, render.

Roles: starting, reading and downloading an export needs the reviewer role (reviewers decide
what ground truth is, so they may take it out); importing needs the project admin role, since
it can replace accepted annotations and create categories. Non-members get 404.
"""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.errors import NotFoundError
from annotator.projects.models import Image, ImageStatus, Role
from annotator.projects.permissions import get_for_role, get_project

from . import selectors, services
from .coco_reader import GROUND_TRUTH, PREDICTIONS
from .models import ExportJob, ImportJob


class ExportOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    status = serializers.CharField()
    progress = serializers.IntegerField()
    message = serializers.CharField()
    options = serializers.JSONField()
    summary = serializers.JSONField()
    download_url = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_download_url(self, obj: ExportJob) -> str | None:
        return f"/api/v1/exports/{obj.id}/download" if obj.file else None


class ImportOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    status = serializers.CharField()
    message = serializers.CharField()
    options = serializers.JSONField()
    report = serializers.JSONField()
    accept_url = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_accept_url(self, obj: ImportJob) -> str | None:
        return f"/api/v1/imports/{obj.id}/accept" if obj.status == "pending" else None


class ExportCreateApi(APIView):
    class ExportInput(serializers.Serializer):
        kind = serializers.ChoiceField(["instances", "predictions"], default="instances")
        segmentation = serializers.ChoiceField(["polygons", "rle"], default="polygons")
        include_images = serializers.BooleanField(default=True)
        status = serializers.ListField(
            child=serializers.ChoiceField(ImageStatus.values),
            required=False,
            allow_empty=False,
            max_length=len(ImageStatus.values),
        )
        split = serializers.ChoiceField(
            ["train", "val", "unassigned"], required=False, allow_null=True, default=None
        )
        categories = serializers.ListField(
            child=serializers.IntegerField(), required=False, allow_null=True, default=None, max_length=1000
        )
        date_from = serializers.DateTimeField(required=False, allow_null=True, default=None)
        date_to = serializers.DateTimeField(required=False, allow_null=True, default=None)
        model_version = serializers.IntegerField(required=False, allow_null=True, default=None)

    @extend_schema(responses=ExportOutput(many=True))
    def get(self, request, project_id: int):
        """The project's latest exports, newest first, with the options each was made with."""
        project = get_project(request, project_id, Role.REVIEWER)
        return Response(ExportOutput(selectors.recent_exports(project=project), many=True).data)

    @extend_schema(request=ExportInput, responses={202: ExportOutput})
    def post(self, request, project_id: int):
        project = get_project(request, project_id, Role.REVIEWER)
        data = self.ExportInput(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        split = d["split"]
        job = services.export_create(
            project=project,
            user=request.user,
            kind=d["kind"],
            segmentation=d["segmentation"],
            include_images=d["include_images"],
            statuses=d.get("status"),
            split=(Image.Split.UNASSIGNED if split == "unassigned" else split),
            category_ids=d["categories"],
            date_from=d["date_from"],
            date_to=d["date_to"],
            model_version_id=d["model_version"],
        )
        return Response(ExportOutput(job).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailApi(APIView):
    @extend_schema(responses=ExportOutput)
    def get(self, request, export_id: int):
        return Response(
            ExportOutput(
                get_for_role(request, ExportJob.objects.select_related("project"), export_id, Role.REVIEWER)
            ).data
        )


class ExportDownloadApi(APIView):
    """The export file, checked against project membership (media is never public)."""

    @extend_schema(responses={(200, "application/zip"): bytes})
    def get(self, request, export_id: int):
        job = get_for_role(request, ExportJob.objects.select_related("project"), export_id, Role.REVIEWER)
        if job.status != "succeeded" or not job.file:
            raise NotFoundError(f"Export #{job.pk} has no file ({job.status})", code="not_ready")
        name = job.file.name.rsplit("/", 1)[-1]
        content_type = "application/zip" if name.endswith(".zip") else "application/json"
        response = FileResponse(
            job.file.open("rb"), as_attachment=True, filename=name, content_type=content_type
        )
        response["X-Content-Type-Options"] = "nosniff"
        return response


class ImportCreateApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    class ImportInput(serializers.Serializer):
        annotations = serializers.FileField(allow_empty_file=True, help_text="a COCO instances JSON file")
        images = serializers.FileField(
            required=False,
            allow_null=True,
            default=None,
            help_text="a zip of the images; without it, file_name is matched against the project's images",
        )
        mode = serializers.ChoiceField([GROUND_TRUTH, PREDICTIONS], default=GROUND_TRUTH)
        create_categories = serializers.BooleanField(default=False)

    @extend_schema(request={"multipart/form-data": ImportInput}, responses={201: ImportOutput})
    def post(self, request, project_id: int):
        project = get_project(request, project_id, Role.ADMIN)
        data = self.ImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        job = services.import_create(
            project=project,
            user=request.user,
            annotations_file=d["annotations"],
            annotations_name=d["annotations"].name,
            images_zip=d["images"],
            images_zip_name=d["images"].name if d["images"] else "images.zip",
            mode=d["mode"],
            create_categories=d["create_categories"],
        )
        return Response(ImportOutput(job).data, status=status.HTTP_201_CREATED)


class ImportDetailApi(APIView):
    @extend_schema(responses=ImportOutput)
    def get(self, request, import_id: int):
        return Response(
            ImportOutput(
                get_for_role(request, ImportJob.objects.select_related("project"), import_id, Role.ADMIN)
            ).data
        )


class ImportAcceptApi(APIView):
    @extend_schema(request=None, responses=ImportOutput)
    def post(self, request, import_id: int):
        job = get_for_role(request, ImportJob.objects.select_related("project"), import_id, Role.ADMIN)
        job = services.import_accept(job=job, user=request.user)
        return Response(ImportOutput(job).data)

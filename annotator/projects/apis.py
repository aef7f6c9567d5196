"""API views for projects, members, categories and image uploads/listing. Thin: validate, call, render."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.errors import ApplicationError, NotFoundError, error_body

from . import services
from .ingest import images_ingest
from .models import Category, Image, ImageStatus, Project, Role
from .permissions import get_image, get_project, require_project_creator, require_uploader, role_of
from .selectors import image_list, projects_for_user, status_counts

# --------------------------------------------------------------------------- serializers


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "name", "color", "export_id", "position", "universal_name"]
        read_only_fields = ["id", "export_id", "position"]
        extra_kwargs = {
            "color": {"validators": [RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a #rrggbb colour")]}
        }


class ProjectOutput(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()
    counts = serializers.SerializerMethodField()
    settings = serializers.SerializerMethodField()
    categories = CategorySerializer(many=True, read_only=True)

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "role",
            "counts",
            "settings",
            "categories",
            "created_at",
        ]

    def get_role(self, obj: Project) -> str | None:
        return role_of(user=self.context["request"].user, project=obj)

    def get_counts(self, obj: Project) -> dict[str, int]:
        return status_counts(project=obj)

    def get_settings(self, obj: Project) -> dict:
        return {
            "auto_pre_label": obj.auto_pre_label,
            "retrain_threshold": obj.retrain_threshold,
            "queue_strategy": obj.queue_strategy,
            "prompt_engine": obj.prompt_engine,
            "contribute_to_universal": obj.contribute_to_universal,
            "annotators_can_upload": obj.annotators_can_upload,
        }


class ImageOutput(serializers.ModelSerializer):
    file_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    lease = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = [
            "id",
            "project",
            "name",
            "width",
            "height",
            "status",
            "split",
            "version",
            "uncertainty",
            "file_url",
            "thumbnail_url",
            "lease",
            "created_at",
        ]

    def to_representation(self, instance: Image) -> dict:
        # Written out: each field's own to_representation was most of a 50-row list page's time.
        # The same values as the declared fields (tests pin it against ModelSerializer's output).
        return {
            "id": instance.id,
            "project": instance.project_id,
            "name": instance.name,
            "width": instance.width,
            "height": instance.height,
            "status": instance.status,
            "split": instance.split,
            "version": instance.version,
            "uncertainty": None if instance.uncertainty is None else float(instance.uncertainty),
            "file_url": self.get_file_url(instance),
            "thumbnail_url": self.get_thumbnail_url(instance),
            "lease": self.get_lease(instance),
            "created_at": _DATETIME.to_representation(instance.created_at),
        }

    def get_file_url(self, obj: Image) -> str:
        return f"/api/v1/images/{obj.id}/file"

    def get_thumbnail_url(self, obj: Image) -> str:
        return f"/api/v1/images/{obj.id}/thumbnail"

    def get_lease(self, obj: Image) -> dict | None:
        if not obj.lease_is_active():
            return None
        return {
            "user": obj.lease_user.username if obj.lease_user else None,
            "expires_at": obj.lease_expires_at,
        }


_DATETIME = serializers.DateTimeField()

UploadReport = inline_serializer(
    "UploadReport",
    fields={
        "created": serializers.ListField(child=serializers.DictField()),
        "duplicates": serializers.ListField(child=serializers.DictField()),
        "rejected": serializers.ListField(child=serializers.DictField()),
    },
)


# --------------------------------------------------------------------------- views


class ProjectListApi(APIView):
    class ProjectListInput(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        # Names, or {name, color, order} objects; members: {username, role}. The service checks each
        # entry and names the bad one (categories[2].color), so a bad list writes nothing.
        categories = serializers.ListField(child=serializers.JSONField(), required=False, max_length=200)
        members = serializers.ListField(child=serializers.JSONField(), required=False, max_length=500)

    @extend_schema(responses=ProjectOutput(many=True))
    def get(self, request):
        projects = projects_for_user(user=request.user)
        return Response(ProjectOutput(projects, many=True, context={"request": request}).data)

    @extend_schema(request=ProjectListInput, responses={201: ProjectOutput})
    def post(self, request):
        require_project_creator(request.user)
        data = self.ProjectListInput(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.project_create(user=request.user, **data.validated_data)
        return Response(
            ProjectOutput(project, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


class ProjectDetailApi(APIView):
    class ProjectDetailInput(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False)
        description = serializers.CharField(required=False, allow_blank=True)
        auto_pre_label = serializers.BooleanField(required=False)
        retrain_threshold = serializers.IntegerField(min_value=1, max_value=100000, required=False)
        queue_strategy = serializers.ChoiceField(Project.QueueStrategy.choices, required=False)
        prompt_engine = serializers.ChoiceField(["default", "sam", "grabcut"], required=False)
        contribute_to_universal = serializers.BooleanField(required=False)
        annotators_can_upload = serializers.BooleanField(required=False)

    @extend_schema(responses=ProjectOutput)
    def get(self, request, project_id: int):
        project = get_project(request, project_id)
        return Response(ProjectOutput(project, context={"request": request}).data)

    @extend_schema(request=ProjectDetailInput, responses=ProjectOutput)
    def patch(self, request, project_id: int):
        project = get_project(request, project_id, Role.ADMIN)
        data = self.ProjectDetailInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        project = services.project_update(project=project, user=request.user, **data.validated_data)
        return Response(ProjectOutput(project, context={"request": request}).data)


class MembershipApi(APIView):
    class MembershipInput(serializers.Serializer):
        username = serializers.CharField()
        role = serializers.ChoiceField(Role.choices)

    @extend_schema(
        responses=inline_serializer(
            "Member", fields={"username": serializers.CharField(), "role": serializers.CharField()}, many=True
        )
    )
    def get(self, request, project_id: int):
        project = get_project(request, project_id)
        return Response(
            [
                {"username": m.user.username, "role": m.role}
                for m in project.memberships.select_related("user").order_by("user__username")
            ]
        )

    @extend_schema(
        request=MembershipInput,
        responses={
            200: inline_serializer(
                "MemberOut", fields={"username": serializers.CharField(), "role": serializers.CharField()}
            )
        },
    )
    def post(self, request, project_id: int):
        project = get_project(request, project_id, Role.ADMIN)
        data = self.MembershipInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_set(project=project, **data.validated_data)
        return Response({"username": membership.user.username, "role": membership.role})


class CategoryListApi(APIView):
    @extend_schema(responses=CategorySerializer(many=True))
    def get(self, request, project_id: int):
        project = get_project(request, project_id)
        return Response(CategorySerializer(project.categories.all(), many=True).data)

    @extend_schema(request=CategorySerializer, responses={201: CategorySerializer})
    def post(self, request, project_id: int):
        project = get_project(request, project_id, Role.ADMIN)
        data = CategorySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        category = services.category_create(project=project, **data.validated_data)
        return Response(CategorySerializer(category).data, status=status.HTTP_201_CREATED)


class ImageListApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=ImageStatus.values),
            OpenApiParameter("split", str, enum=["train", "val"]),
            OpenApiParameter("page", int),
        ],
        responses=ImageOutput(many=True),
    )
    def get(self, request, project_id: int):
        project = get_project(request, project_id)
        wanted = request.query_params.get("status")
        if wanted and wanted not in ImageStatus.values:
            raise ApplicationError(f"Unknown status '{wanted}'", field="status")
        split = request.query_params.get("split")
        if split and split not in ("train", "val"):
            raise ApplicationError(f"Unknown split '{split}'", field="split")
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(
            image_list(project=project, status=wanted, split=split), request, view=self
        )
        return paginator.get_paginated_response(ImageOutput(page, many=True).data)

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer(
                "Upload", fields={"files": serializers.ListField(child=serializers.FileField())}
            )
        },
        responses={201: UploadReport, 200: UploadReport},
    )
    def post(self, request, project_id: int):
        project = get_project(request, project_id)
        require_uploader(role=project.user_role, project=project)
        files = request.FILES.getlist("files")
        if not files:
            raise ApplicationError(
                "Attach one or more images or zip files in the 'files' field", field="files"
            )
        report = images_ingest(
            project=project, uploads=[(f.name, f) for f in files], user=request.user
        ).as_dict()
        if not report["created"] and report["rejected"]:
            names = "; ".join(f"{r['file']}: {r['reason']}" for r in report["rejected"][:5])
            return Response(
                error_body("upload_rejected", f"No file was stored. {names}", "files", **report),
                status=status.HTTP_400_BAD_REQUEST,
            )
        code = status.HTTP_201_CREATED if report["created"] else status.HTTP_200_OK
        return Response(report, status=code)


class ImageDetailApi(APIView):
    @extend_schema(responses=ImageOutput)
    def get(self, request, image_id: int):
        return Response(ImageOutput(get_image(request, image_id)).data)


class ImageFileApi(APIView):
    """The image bytes, checked against project membership (media is never public)."""

    @extend_schema(responses={(200, "image/*"): bytes})
    def get(self, request, image_id: int):
        image = get_image(request, image_id)
        if not image.file:
            raise NotFoundError("This image has no file")
        response = FileResponse(image.file.open("rb"), content_type=_content_type(image.file_ext))
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Disposition"] = "inline"
        response["Cache-Control"] = "private, max-age=3600"
        return response


def _content_type(ext: str) -> str:
    return {
        "jpg": "image/jpeg",
        "png": "image/png",
        "webp": "image/webp",
        "bmp": "image/bmp",
        "tif": "image/tiff",
    }.get(ext, "application/octet-stream")

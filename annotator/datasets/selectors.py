"""Reads for COCO export and import: the filtered export scan, prediction scans, lookups by name.

Export scans return lazy querysets of plain tuples, ordered by id, meant to be consumed with
``.iterator(chunk_size=...)`` so memory stays flat however large the project is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from annotator.annotations.models import Annotation
from annotator.learning.models import ModelVersion, Prediction
from annotator.projects.models import Category, Image, ImageStatus, Project

from .models import ExportJob


def export_images(
    *,
    project: Project,
    statuses: list[str] | None = None,
    split: str | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
) -> QuerySet[Image]:
    """Images to export: by status (accepted by default), split, and when they reached that status."""
    images = Image.objects.filter(project=project, status__in=statuses or [ImageStatus.ACCEPTED])
    if split is not None:
        images = images.filter(split=split)
    if date_from is not None:
        images = images.filter(status_changed_at__gte=date_from)
    if date_to is not None:
        images = images.filter(status_changed_at__lt=date_to)
    return images.order_by("id")


def export_image_rows(images: QuerySet[Image]) -> QuerySet:
    """(id, name, width, height, file, file_ext, split, status) per image, in id order."""
    return images.values_list("id", "name", "width", "height", "file", "file_ext", "split", "status")


def export_annotation_rows(*, images: QuerySet[Image], category_ids: list[int] | None = None) -> QuerySet:
    """(id, image_id, category_id, shape, image height, image width) per annotation of ``images``."""
    rows = Annotation.objects.filter(image__in=images.values("id"))
    if category_ids is not None:
        rows = rows.filter(category_id__in=category_ids)
    return rows.order_by("image_id", "id").values_list(
        "id", "image_id", "category_id", "shape", "image__height", "image__width"
    )


def export_categories(*, project: Project, category_ids: list[int] | None = None) -> list[Category]:
    categories = Category.objects.filter(project=project)
    if category_ids is not None:
        categories = categories.filter(id__in=category_ids)
    return list(categories.order_by("export_id"))


def prediction_rows(*, model_version: ModelVersion, project: Project) -> QuerySet:
    """(image_id, instances, image height, image width) for a model version's predictions in ``project``."""
    return (
        Prediction.objects.filter(model_version=model_version, image__project=project)
        .order_by("image_id")
        .values_list("image_id", "instances", "image__height", "image__width")
    )


def model_version_for_project(*, project: Project, model_version_id: int) -> ModelVersion | None:
    """A version trained in the project, or a shared base version (project null)."""
    version = ModelVersion.objects.filter(pk=model_version_id).first()
    if version is None or version.project_id not in (None, project.id):
        return None
    return version


def project_images_by_name(*, project: Project) -> dict[str, Any]:
    """Lookup tables for matching COCO ``file_name`` to existing images.

    ``exact`` maps the stored name to (id, width, height); ``basename`` maps the last path
    part to a list of those (several entries = ambiguous).
    """
    exact: dict[str, tuple[int, int, int]] = {}
    basename: dict[str, list[tuple[int, int, int]]] = {}
    for image_id, name, width, height in (
        Image.objects.filter(project=project)
        .order_by("id")
        .values_list("id", "name", "width", "height")
        .iterator(chunk_size=2000)
    ):
        row = (image_id, width, height)
        exact.setdefault(name, row)
        basename.setdefault(name.rsplit("/", 1)[-1], []).append(row)
    return {"exact": exact, "basename": basename}


def recent_exports(*, project: Project, limit: int = 10) -> QuerySet[ExportJob]:
    """The project's latest export jobs, newest first."""
    return ExportJob.objects.filter(project=project).order_by("-created_at", "-id")[:limit]

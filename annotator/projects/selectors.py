"""Reads on projects and images: what a user may see, lists, counts by status and batch progress."""

from __future__ import annotations

from django.db.models import Count, QuerySet, Sum

from .models import Image, ImageStatus, Project


def projects_for_user(*, user) -> QuerySet[Project]:
    projects = Project.objects.prefetch_related("categories")
    if user.is_staff:
        return projects.all()
    return projects.filter(memberships__user=user).distinct()


# What a row of the image list shows (``ImageOutput``); the rest (features, file paths, ...) stays in the database.
IMAGE_LIST_COLUMNS = (
    "id",
    "project_id",
    "name",
    "width",
    "height",
    "status",
    "split",
    "version",
    "uncertainty",
    "created_at",
    "lease_user__username",
    "lease_expires_at",
)


def image_list(*, project: Project, status: str | None = None, split: str | None = None) -> QuerySet[Image]:
    images = project.images.select_related("lease_user").only(*IMAGE_LIST_COLUMNS).order_by("id")
    if status:
        images = images.filter(status=status)
    if split:
        images = images.filter(split=split)
    return images


def status_counts(*, project: Project) -> dict[str, int]:
    """How many of the project's images are in each status (every status present, zeros included)."""
    counts = {s: 0 for s in ImageStatus.values}
    for row in project.images.values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts


def batch_progress(*, project: Project, kind: str) -> tuple[int, int]:
    """(done, total) images over all of the project's batch jobs of ``kind``; done never exceeds total."""
    sums = project.batch_jobs.filter(kind=kind).aggregate(done=Sum("done"), total=Sum("total"))
    done, total = sums["done"] or 0, sums["total"] or 0
    return min(done, total), total


def universal_names() -> list[str]:
    """The universal model's classes, which a project category may map onto (its taxonomy)."""
    from ml.synth import CATEGORIES

    return list(CATEGORIES)

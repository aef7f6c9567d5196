"""Reads on projects and images: what a user may see, lists, the dashboard's figures."""

from __future__ import annotations

from django.db.models import Count, QuerySet, Sum

from annotator.jobs.models import BatchJob

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


def project_stats(*, project: Project) -> dict:
    """Counts by status, progress of background work, and the active model (the dashboard)."""
    from annotator.datasets.models import ExportJob
    from annotator.learning.adapters.prompt import engine_settings
    from annotator.learning.models import TrainingRun
    from annotator.learning.services import active_model_for

    counts = status_counts(project=project)
    jobs = {}
    for kind in (BatchJob.Kind.EMBEDDING, BatchJob.Kind.PRE_LABEL):
        done, total = batch_progress(project=project, kind=kind)
        jobs["embedding" if kind == BatchJob.Kind.EMBEDDING else "prelabel"] = {"done": done, "total": total}
    run = TrainingRun.objects.filter(project=project).order_by("-created_at").first()
    jobs["training"] = (
        None
        if run is None
        else {
            "id": run.id,
            "status": run.status,
            "progress": run.progress,
            "message": run.message,
            "epoch": run.epoch,
            "epochs": run.epochs,
            "loss": run.loss,
            "eta_seconds": run.eta_seconds,
        }
    )
    export = ExportJob.objects.filter(project=project).order_by("-created_at").first()
    jobs["export"] = (
        None
        if export is None
        else {
            "id": export.id,
            "status": export.status,
            "progress": export.progress,
            "download_url": f"/api/v1/exports/{export.id}/download" if export.file else None,
        }
    )
    model = active_model_for(project)
    return {
        "counts": counts,
        "jobs": jobs,
        "active_model": None
        if model is None
        else {"id": model.id, "name": model.name, "metrics": model.metrics},
        "prompt_engine": engine_settings(project.prompt_engine)[0],
    }

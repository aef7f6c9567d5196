"""Reads for the learning loop: training runs, model versions, the data to train on."""

from __future__ import annotations

from django.db.models import QuerySet

from annotator.projects.models import ImageStatus, Project

from .models import ModelVersion, TrainingRun


def accepted_since_last_run(*, project: Project) -> int:
    """Images accepted (train or val) after the project's latest training run was created."""

    accepted = project.images.filter(status=ImageStatus.ACCEPTED)
    last = (
        TrainingRun.objects.filter(project=project)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if last is not None:
        accepted = accepted.filter(status_changed_at__gt=last)
    return accepted.count()


def training_runs_for(*, project: Project) -> QuerySet[TrainingRun]:
    return TrainingRun.objects.filter(project=project).select_related(
        "result_version", "base_version", "requested_by"
    )


def model_versions_for(*, project: Project) -> QuerySet[ModelVersion]:
    """The project's own versions, newest first (the shipped base is reported separately)."""
    return ModelVersion.objects.filter(project=project).select_related("parent")

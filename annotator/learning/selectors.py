"""Reads for the learning loop: training runs, model versions, the data to train on."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Q, QuerySet

from annotator.jobs.models import BatchJob, JobStatus
from annotator.projects.models import Image, ImageStatus, Project

from .models import ModelVersion, Prediction, TrainingRun


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


@dataclass(frozen=True)
class TrainingData:
    """Accepted images per split against the minimums a run needs; ``reason`` says why a run cannot start."""

    train: int
    val: int
    min_train: int
    min_val: int
    reason: str | None

    def as_dict(self) -> dict:
        return {
            "train": self.train,
            "val": self.val,
            "min_train": self.min_train,
            "min_val": self.min_val,
            "ready": self.reason is None,
            "reason": self.reason,
        }


def training_data_shortfall(*, train: int, val: int) -> str | None:
    """Why ``train`` / ``val`` accepted images are too few for a run (``MIN_TRAINING_IMAGES``, ``MIN_VAL_IMAGES``)."""
    min_train, min_val = _minimums()
    if train < min_train:
        return (
            f"A training run needs at least {min_train} accepted images in the train split; "
            f"this project has {train} (and {val} of the {min_val} needed in the val split)"
        )
    if val < min_val:
        return (
            f"A training run needs at least {min_val} accepted images in the val split to compare the new "
            f"model with the current one; this project has {val} (train split: {train})"
        )
    return None


def training_data_for(*, project: Project) -> TrainingData:
    """The accepted images of each split, in one query, and whether a run may start on them."""
    counts = project.images.filter(status=ImageStatus.ACCEPTED).aggregate(
        train=Count("id", filter=Q(split=Image.Split.TRAIN)), val=Count("id", filter=Q(split=Image.Split.VAL))
    )
    min_train, min_val = _minimums()
    reason = training_data_shortfall(train=counts["train"], val=counts["val"])
    return TrainingData(counts["train"], counts["val"], min_train, min_val, reason)


def _minimums() -> tuple[int, int]:
    return max(1, settings.ANNOTATOR["MIN_TRAINING_IMAGES"]), max(1, settings.ANNOTATOR["MIN_VAL_IMAGES"])


def prelabel_state(*, image: Image) -> dict:
    """Where the image's model pre-labels stand, for the annotate view.

    ``pending``: no prediction yet, the image is untouched and a pre-label job of the project is
    still open (they will come). ``ready``: the model's prediction exists; ``shown_as`` says how
    the trust gate showed it (``prelabel``: in the set, ``suggest``: as suggestions, ``""``: not
    shown, the image was touched first). ``none``: nothing is coming (pre-labelling is off, or
    there is no model). ``version`` is the image's version now.
    """
    prediction = (
        Prediction.objects.filter(image=image)
        .order_by("-created_at", "-id")
        .only("shown_as", "instances")
        .first()
    )
    answer = {"state": "none", "version": image.version, "shown_as": None, "instances": 0}
    if prediction is not None:
        answer.update(state="ready", shown_as=prediction.shown_as, instances=len(prediction.instances))
    elif (
        image.status == ImageStatus.NEW
        and BatchJob.objects.filter(
            project_id=image.project_id,
            kind=BatchJob.Kind.PRE_LABEL,
            status__in=[JobStatus.PENDING, JobStatus.RUNNING],
        ).exists()
    ):
        answer["state"] = "pending"
    return answer

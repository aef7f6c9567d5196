"""Writes of the learning loop: scheduling pre-labels, predicting, the base model row."""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings

from annotator.jobs.batches import batch_job_create
from annotator.jobs.enqueue import enqueue
from annotator.jobs.models import BatchJob
from annotator.projects.models import Image, Project

from .adapters import universal as universal_adapter
from .models import ModelVersion, Prediction
from .prelabels import prediction_show
from .registry import PRE_LABEL_IMAGE, base_shipped_register
from .trust import prelabel_policy

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- pre-labels


def images_schedule_pre_label(*, project: Project, image_ids: list[int]) -> BatchJob | None:
    """After upload (if the project and the site pre-label): one pre-label job over the new images."""
    if not (project.auto_pre_label and settings.ANNOTATOR["AUTO_PRE_LABEL"]):
        return None
    job = batch_job_create(project=project, kind=BatchJob.Kind.PRE_LABEL, total=len(image_ids))
    for image_id in image_ids:
        enqueue(PRE_LABEL_IMAGE, image_id, job.id, job=job)
    return job


def base_model_version() -> ModelVersion | None:
    """The universal base in use (the promoted base version); None if there is no shipped checkpoint.

    The shipped checkpoint file is known by its content: a file the registry has not seen (a new
    base replaced in place) is registered and promoted here first (``registry.base_shipped_register``),
    which re-scores the pending images of the projects that follow the base. Every caller (pre-labels,
    the registry API, training, the periodic retraining check) thereby sees a new file.
    """
    shipped = Path(settings.ANNOTATOR["UNIVERSAL_CHECKPOINT"])
    if not shipped.exists():
        return None
    sha = universal_adapter.checkpoint_sha256(shipped)
    bases = ModelVersion.objects.filter(project__isnull=True)
    if not bases.filter(checkpoint_sha256=sha).exists():
        base_shipped_register(path=shipped)
    return (
        bases.filter(status=ModelVersion.Status.PROMOTED).first()
        or bases.filter(checkpoint_sha256=sha).first()
    )


def active_model_for(project: Project) -> ModelVersion | None:
    return project.active_model or base_model_version()


def image_predict(*, image: Image, model_version: ModelVersion | None = None) -> Prediction | None:
    """Predict with the project's active model, store the Prediction, and pre-label if untouched.

    The Prediction keeps every instance with its score; what the image's set gets is the trust gate's
    call (``trust.prelabel_policy``): the instances scoring at least its threshold as pre-labels, or
    none while the gate offers them as suggestions.
    """
    version = model_version or active_model_for(image.project)
    if version is None:
        log.warning("No universal model checkpoint; image %s is not pre-labelled", image.pk)
        return None
    result = universal_adapter.predict(image=image, checkpoint=version.checkpoint)
    prediction, _ = Prediction.objects.update_or_create(
        image=image,
        model_version=version,
        # New instances renumber the shapes: earlier rejections no longer name the same ones.
        defaults={"instances": result.instances, "uncertainty": result.uncertainty, "rejected": []},
    )
    Image.objects.filter(pk=image.pk).update(
        uncertainty=result.uncertainty, **_encoder_fields(version, result)
    )
    image.refresh_from_db()
    prediction_show(
        image=image, prediction=prediction, policy=prelabel_policy(project=image.project, version=version)
    )
    return prediction


def image_refresh_features(*, image: Image) -> None:
    """Recompute a labelled image's ``features`` with the project's active model, and nothing else.

    The queue's diversity compares the pool with what is labelled, so both need one encoder:
    fine-tuning moves an image's features farther (median 0.40 on the simulated site after 40
    labels) than the distance to its nearest neighbour (0.15). No Prediction, no pre-label, no
    status change: the person's work and the acceptance metric stay as they are.
    """
    version = active_model_for(image.project)
    if version is None or image.features_model_id == version.pk:
        return
    result = universal_adapter.predict(image=image, checkpoint=version.checkpoint)
    Image.objects.filter(pk=image.pk).update(**_encoder_fields(version, result))


def _encoder_fields(version: ModelVersion, result: universal_adapter.ImagePrediction) -> dict:
    """What the queue reads from one model's pass over an image; kept together, since the queue
    compares features (and weighs counts) only within one ``features_model``."""
    return {
        "features": result.features,
        "features_model": version,
        "predicted_instances": len(result.instances),
    }

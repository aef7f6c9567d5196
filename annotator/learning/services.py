"""Writes of the learning loop: scheduling per-image work, embeddings, pre-labels, the base model row."""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotator.annotations.services import image_pre_label
from annotator.jobs.models import BatchJob, JobStatus
from annotator.projects.models import Image, Project

from .adapters import prompt as prompt_adapter
from .adapters import universal as universal_adapter
from .adapters.images import load_rgb
from .models import Embedding, ModelVersion, Prediction
from .registry import base_shipped_register

log = logging.getLogger(__name__)


def images_schedule_processing(*, project: Project, image_ids: list[int]) -> None:
    """After upload: one embedding job and (if enabled) one pre-label job over the new images."""
    from . import tasks

    embed_job = BatchJob.objects.create(project=project, kind=BatchJob.Kind.EMBEDDING, total=len(image_ids))
    for image_id in image_ids:
        tasks.compute_embedding.delay(image_id, embed_job.id)
    if project.auto_pre_label and settings.ANNOTATOR["AUTO_PRE_LABEL"]:
        label_job = BatchJob.objects.create(
            project=project, kind=BatchJob.Kind.PRE_LABEL, total=len(image_ids)
        )
        for image_id in image_ids:
            tasks.pre_label_image.delay(image_id, label_job.id)


def batch_job_step(*, job_id: int | None, failed: str | None = None) -> None:
    """Count one image as done in a batch job and finish the job when all are done."""
    if job_id is None:
        return
    with transaction.atomic():
        job = BatchJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            return
        job.done = F("done") + 1
        if job.status == JobStatus.PENDING:
            job.status, job.started_at = JobStatus.RUNNING, timezone.now()
        if failed:
            job.message = failed[:2000]
        job.heartbeat_at = timezone.now()
        job.save()
        job.refresh_from_db()
        job.progress = min(100, round(100 * job.done / max(job.total, 1)))
        if job.done >= job.total:
            job.status = JobStatus.FAILED if job.message else JobStatus.SUCCEEDED
            job.finished_at = timezone.now()
        job.save(update_fields=["progress", "status", "finished_at"])


# --------------------------------------------------------------------------- embeddings


def embedding_ensure(*, image: Image) -> Embedding:
    """Compute and store the prompt-engine embedding of an image unless a valid one exists."""
    engine = prompt_adapter.engine_for(image.project.prompt_engine)
    path = prompt_adapter.embedding_path(sha256=image.sha256, engine_id=engine.engine_id)
    record, _ = Embedding.objects.get_or_create(image=image, engine_id=engine.engine_id)
    if record.status == Embedding.Status.READY and Path(record.path).exists():
        return record
    if not path.exists():  # the same pixels may already be embedded for another project
        data = prompt_adapter.compute(engine, load_rgb(image))
        prompt_adapter.store_embedding(path, data)
    record.path, record.status, record.message = str(path), Embedding.Status.READY, ""
    record.save(update_fields=["path", "status", "message", "updated_at"])
    return record


# --------------------------------------------------------------------------- pre-labels


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

    The Prediction keeps every instance with its score; the pre-labels are the instances scoring at
    least the version's ``prelabel_threshold``.
    """
    version = model_version or active_model_for(image.project)
    if version is None:
        log.warning("No universal model checkpoint; image %s is not pre-labelled", image.pk)
        return None
    result = universal_adapter.predict(image=image, checkpoint=version.checkpoint)
    prediction, _ = Prediction.objects.update_or_create(
        image=image,
        model_version=version,
        defaults={"instances": result.instances, "uncertainty": result.uncertainty},
    )
    Image.objects.filter(pk=image.pk).update(
        uncertainty=result.uncertainty, **_encoder_fields(version, result)
    )
    image.refresh_from_db()
    kept = [inst for inst in result.instances if inst["score"] >= version.prelabel_threshold]
    image_pre_label(image=image, instances=kept)
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

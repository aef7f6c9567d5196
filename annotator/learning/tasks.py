"""Celery tasks of the learning loop: thin, idempotent wrappers around services."""

from __future__ import annotations

import logging

from celery import shared_task

from annotator.projects.models import Image

from . import services

log = logging.getLogger(__name__)
TRANSIENT = (OSError, ConnectionError, TimeoutError)


def _per_image_step(image_id: int, batch_job_id: int | None, work, what: str) -> None:
    """Run ``work(image=...)`` and count the image in its batch job; transient errors are retried.

    A deleted image or a failure is still counted, so the batch always finishes; a failure is
    recorded in the job's message with the image id.
    """
    image = Image.objects.select_related("project").filter(pk=image_id).first()
    if image is None:  # deleted since; nothing to do
        services.batch_job_step(job_id=batch_job_id)
        return
    try:
        work(image=image)
    except TRANSIENT:
        raise
    except Exception as exc:
        log.exception("%s of image %s failed", what, image_id)
        services.batch_job_step(job_id=batch_job_id, failed=f"image #{image_id}: {exc}")
        return
    services.batch_job_step(job_id=batch_job_id)


@shared_task(bind=True, acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def compute_embedding(self, image_id: int, batch_job_id: int | None = None) -> None:
    _per_image_step(image_id, batch_job_id, services.embedding_ensure, "embedding")


@shared_task(bind=True, acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def pre_label_image(self, image_id: int, batch_job_id: int | None = None) -> None:
    _per_image_step(image_id, batch_job_id, services.image_predict, "pre-label")


@shared_task(bind=True, acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def refresh_features(self, image_id: int, batch_job_id: int | None = None) -> None:
    _per_image_step(image_id, batch_job_id, services.image_refresh_features, "feature refresh")


@shared_task(acks_late=True)
def train_model(run_id: int) -> None:
    """Run one TrainingRun; a duplicate message does nothing, a redelivered one takes over a run whose worker died."""
    from .runs import run_start
    from .training import training_run_execute

    run = run_start(run_id=run_id)
    if run is not None:
        training_run_execute(run=run)


@shared_task(acks_late=True)
def check_retraining() -> list[int]:
    """Periodic (django-celery-beat): start runs where enough images were accepted since the last one."""
    from .training import retraining_check

    return [run.pk for run in retraining_check()]

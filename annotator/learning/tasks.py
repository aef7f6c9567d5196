"""Celery tasks of the learning loop: thin, idempotent wrappers around services."""

from __future__ import annotations

from celery import shared_task

from annotator.jobs.batches import TRANSIENT, batch_image_step

from . import services
from .runs import run_start
from .training import retraining_check, training_run_execute


@shared_task(bind=True, acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def pre_label_image(self, image_id: int, batch_job_id: int | None = None) -> None:
    batch_image_step(
        image_id=image_id, batch_job_id=batch_job_id, work=services.image_predict, what="pre-label"
    )


@shared_task(bind=True, acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def refresh_features(self, image_id: int, batch_job_id: int | None = None) -> None:
    batch_image_step(
        image_id=image_id,
        batch_job_id=batch_job_id,
        work=services.image_refresh_features,
        what="feature refresh",
    )


@shared_task(acks_late=True)
def train_model(run_id: int) -> None:
    """Run one TrainingRun; a duplicate message does nothing, a redelivered one takes over a run whose worker died."""
    run = run_start(run_id=run_id)
    if run is not None:
        training_run_execute(run=run)


@shared_task(acks_late=True)
def check_retraining() -> list[int]:
    """Periodic (django-celery-beat): start runs where enough images were accepted since the last one."""
    return [run.pk for run in retraining_check()]

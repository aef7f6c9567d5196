"""Celery tasks of prompting: thin, idempotent wrappers around services."""

from __future__ import annotations

from celery import shared_task

from annotator.jobs.batches import TRANSIENT, batch_image_step

from . import services


@shared_task(bind=True, acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def compute_embedding(self, image_id: int, batch_job_id: int | None = None) -> None:
    batch_image_step(
        image_id=image_id, batch_job_id=batch_job_id, work=services.embedding_ensure, what="embedding"
    )

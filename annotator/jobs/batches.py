"""Per-image work counted in a ``BatchJob`` (embedding, pre-labelling, re-scoring a batch of images)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotator.projects.models import Image

from .models import BatchJob, JobStatus

log = logging.getLogger(__name__)
TRANSIENT = (
    OSError,
    ConnectionError,
    TimeoutError,
)  # retried by the task; anything else is counted as failed


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


def batch_image_step(
    *, image_id: int, batch_job_id: int | None, work: Callable[..., object], what: str
) -> None:
    """Run ``work(image=...)`` and count the image in its batch job; transient errors are re-raised.

    A deleted image or a failure is still counted, so the batch always finishes; a failure is
    recorded in the job's message with the image id.
    """
    image = Image.objects.select_related("project").filter(pk=image_id).first()
    if image is None:  # deleted since; nothing to do
        batch_job_step(job_id=batch_job_id)
        return
    try:
        work(image=image)
    except TRANSIENT:
        raise
    except Exception as exc:
        log.exception("%s of image %s failed", what, image_id)
        batch_job_step(job_id=batch_job_id, failed=f"image #{image_id}: {exc}")
        return
    batch_job_step(job_id=batch_job_id)


def batch_job_create(*, project, kind: str, total: int) -> BatchJob:
    """A pending batch job of ``total`` images."""
    return BatchJob.objects.create(project=project, kind=kind, total=total)

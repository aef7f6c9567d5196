"""Status transitions of job rows, shared by every kind of job."""

from __future__ import annotations

from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from .models import FINISHED_STATUSES, Job, JobStatus


def job_start(*, model: type[Job], job_id: int) -> Job | None:
    """Move a job to RUNNING; ``None`` when it is finished or another live worker holds it.

    A RUNNING job whose heartbeat is older than ``takeover_seconds()`` belongs to a dead
    worker and may be taken over; this is what makes ``acks_late`` redelivery safe.
    """
    stale_before = timezone.now() - timedelta(seconds=takeover_seconds())
    with transaction.atomic():
        job = model.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status in FINISHED_STATUSES:
            return None
        if job.status == JobStatus.RUNNING and job.heartbeat_at and job.heartbeat_at > stale_before:
            return None
        if job.cancel_requested:
            _finish(job, JobStatus.CANCELLED, "Cancelled before it started")
            return None
        now = timezone.now()
        job.status = JobStatus.RUNNING
        job.started_at = job.started_at or now
        job.heartbeat_at = now
        job.attempts += 1
        job.save(update_fields=["status", "started_at", "heartbeat_at", "attempts"])
        return job


def takeover_seconds() -> int:
    """Heartbeat silence after which a redelivered task may take a RUNNING job over.

    It must be shorter than the broker's redelivery delay (Redis ``visibility_timeout``, 1 h),
    which must be shorter than the reaper's ``STALE_JOB_SECONDS`` (2 h): a killed worker's task
    then comes back, finds the job silent long enough and finishes it, before the reaper would
    fail it. A live job reports at least every few seconds, so 15 minutes of silence is a dead
    worker. ``JOB_TAKEOVER_SECONDS`` = 0 means min(15 min, ``STALE_JOB_SECONDS``).
    """
    conf = settings.ANNOTATOR
    return conf["JOB_TAKEOVER_SECONDS"] or min(15 * 60, conf["STALE_JOB_SECONDS"])


def job_report(*, job: Job, progress: int | None = None, message: str | None = None) -> bool:
    """Record progress and a heartbeat; returns False when a user asked to cancel."""
    fields: dict[str, object] = {"heartbeat_at": timezone.now()}
    if progress is not None:
        job.progress = fields["progress"] = max(0, min(100, int(progress)))
    if message is not None:
        job.message = fields["message"] = message[:2000]
    type(job).objects.filter(pk=job.pk).update(**fields)
    cancelled = type(job).objects.filter(pk=job.pk).values_list("cancel_requested", flat=True).first()
    return not cancelled


def job_succeed(*, job: Job, message: str = "") -> None:
    _finish(job, JobStatus.SUCCEEDED, message, progress=100)


def job_fail(*, job: Job, message: str) -> None:
    _finish(job, JobStatus.FAILED, message)


def job_fail_if_pending(*, job: Job, message: str) -> bool:
    """Fail ``job`` (row and object) only if it is still PENDING, in one conditional UPDATE: a job whose
    task never reached the queue. A job a worker already holds keeps its own status. True if failed."""
    now = timezone.now()
    pending = type(job).objects.filter(pk=job.pk, status=JobStatus.PENDING)
    if not pending.update(status=JobStatus.FAILED, message=message[:2000], finished_at=now):
        return False
    job.status, job.message, job.finished_at = JobStatus.FAILED, message[:2000], now
    return True


def job_cancel(*, job: Job, message: str = "Cancelled") -> None:
    _finish(job, JobStatus.CANCELLED, message)


def job_request_cancel(*, job: Job) -> None:
    """Ask a running job to stop at its next progress report; a pending one stops at once."""
    type(job).objects.filter(pk=job.pk).update(cancel_requested=True)
    if job.status == JobStatus.PENDING:
        job.refresh_from_db()
        job_cancel(job=job, message="Cancelled before it started")


def _finish(job: Job, status: str, message: str, progress: int | None = None) -> None:
    job.status = status
    job.message = message[:2000]
    job.finished_at = timezone.now()
    fields = ["status", "message", "finished_at"]
    if progress is not None:
        job.progress = progress
        fields.append("progress")
    job.save(update_fields=fields)


def jobs_reap_stale(*, models_to_reap: list[type[Job]]) -> int:
    """Fail RUNNING jobs whose worker stopped reporting; returns how many were reaped."""
    stale_before = timezone.now() - timedelta(seconds=settings.ANNOTATOR["STALE_JOB_SECONDS"])
    reaped = 0
    for model in models_to_reap:
        reaped += (
            model.objects.filter(status=JobStatus.RUNNING)
            .filter(models.Q(heartbeat_at__lt=stale_before) | models.Q(heartbeat_at__isnull=True))
            .update(
                status=JobStatus.FAILED,
                finished_at=timezone.now(),
                message="The worker stopped reporting (killed or lost); marked failed by the reaper",
            )
        )
    return reaped


def reapable_job_models() -> list[type[Job]]:
    """Every concrete job model of every installed app (training runs, exports, imports, batches)."""
    return [model for model in apps.get_models() if issubclass(model, Job)]

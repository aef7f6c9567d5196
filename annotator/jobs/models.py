"""What every background job row shares: status, progress, message, timing, who asked.

A job row exists for anything a user waits on. Its status is the guard that makes a
redelivered Celery task harmless: only a PENDING job (or a RUNNING one whose worker died,
see ``annotator.jobs.services.job_start``) may be started.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Job(models.Model):
    """Abstract base for TrainingRun, ExportJob, ImportJob and the generic BatchJob."""

    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING, db_index=True
    )
    progress = models.PositiveSmallIntegerField(default=0, help_text="0-100")
    message = models.TextField(blank=True, default="")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="last progress report from a worker")
    attempts = models.PositiveSmallIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class BatchJob(Job):
    """A generic per-project job (embedding or pre-labelling a batch of images, re-scoring)."""

    class Kind(models.TextChoices):
        EMBEDDING = "embedding", "Embedding"
        PRE_LABEL = "pre_label", "Pre-label"
        RESCORE = "rescore", "Re-score after promotion"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="batch_jobs")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)

    class Meta(Job.Meta):
        indexes = [models.Index(fields=["project", "kind", "status"])]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

"""Base-training state: the row that serialises base runs, and every base version's figures per project.

Base versions themselves are ``learning.ModelVersion`` rows with ``project=None`` (``parent``
makes the lineage tree) and base runs are ``learning.TrainingRun`` rows with ``project=None``.
"""

from __future__ import annotations

from django.db import models


class BaseTrainingLock(models.Model):
    """A single row, locked (``select_for_update``) whenever a base run is requested: one at a time.

    The per-project unique constraint on TrainingRun cannot hold for ``project=None`` (NULLs
    are distinct), so base runs serialise on this row instead; it works across any number of
    web and worker processes because the lock lives in the database.
    """

    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "base training lock"


class BaseEvaluation(models.Model):
    """Mask AP of a base version on one evaluation set: the synthetic held-out set or a project's val split."""

    version = models.ForeignKey(
        "learning.ModelVersion", on_delete=models.CASCADE, related_name="base_evaluations"
    )
    project = models.ForeignKey(
        "projects.Project",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="base_evaluations",
        help_text="empty = synthetic held-out set",
    )
    mask_ap = models.FloatField()
    images = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    run = models.ForeignKey(
        "learning.TrainingRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="the base run whose gate measured it",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["version", "project"])]

    def __str__(self) -> str:
        where = self.project.name if self.project_id else "synthetic held-out"
        return f"{self.version} on {where}: {self.mask_ap:.4f}"

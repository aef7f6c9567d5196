"""Model versions (a tree: base → project fine-tunes), their predictions, training runs.

The prompt engine's ``Embedding`` table also belongs to this app (``app_label``) for its
migrations, but its model and code live in ``annotator.prompting``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from annotator.jobs.models import Job, JobStatus
from annotator.projects.models import Project

ACTIVE_RUN_STATUSES = (JobStatus.PENDING, JobStatus.RUNNING)


class ModelVersion(models.Model):
    class Status(models.TextChoices):
        TRAINING = "training", "Training"
        READY = "ready", "Ready (not promoted)"
        FAILED = "failed", "Failed"
        PROMOTED = "promoted", "Promoted"
        ARCHIVED = "archived", "Archived"

    project = models.ForeignKey(
        "projects.Project",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="model_versions",
        help_text="empty for universal base versions",
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    name = models.CharField(max_length=100)
    checkpoint = models.CharField(max_length=500, help_text="path of the state_dict checkpoint")
    checkpoint_sha256 = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="content of a shipped base checkpoint file: a file with new content is a new base version",
    )
    prelabel_threshold = models.FloatField(
        "pre-label threshold",
        default=0.0,
        help_text="pre-labels keep the shapes scoring at least this (the checkpoint's calibrated "
        "default threshold; 0 = every shape); predictions keep all of them",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRAINING)
    metrics = models.JSONField(default=dict, blank=True, help_text="mask_ap etc. on the project's val split")
    training_images = models.JSONField(default=list, blank=True, help_text="ids of images trained on")
    data_summary = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Two processes that see a new shipped file at once register it once.
            models.UniqueConstraint(
                fields=["checkpoint_sha256"],
                condition=models.Q(project__isnull=True) & ~models.Q(checkpoint_sha256=""),
                name="one_base_version_per_checkpoint_file",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Prediction(models.Model):
    """What a model version proposed for an image; kept so reviewers can compare with the final set."""

    image = models.ForeignKey("projects.Image", on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL)
    instances = models.JSONField(help_text="[{category (id), shape, score}]")
    uncertainty = models.FloatField(null=True, blank=True)
    # How the trust gate showed this prediction on its untouched image: its shapes scoring at least
    # ``shown_threshold`` as pre-labels in the annotation set, or every shape as suggestions that stay
    # here until an annotator takes them. Empty: not shown (the image was already someone's work).
    shown_as = models.CharField(max_length=8, blank=True, default="", help_text="prelabel | suggest | ''")
    shown_threshold = models.FloatField(null=True, blank=True)
    # Indexes into ``instances`` an annotator rejected as suggestions: not offered again, and not
    # written as pre-labels if the gate flips. The annotation set is never touched by a rejection.
    rejected = models.JSONField(
        default=list, blank=True, help_text="indexes of instances rejected as suggestions"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["image", "model_version"], name="one_prediction_per_model")
        ]

    def __str__(self) -> str:
        return f"prediction for image #{self.image_id} by {self.model_version}"


class TrainingRun(Job):
    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="training_runs"
    )
    base_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    result_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    trigger = models.CharField(max_length=16, default="manual", help_text="manual | schedule | rebase")
    epoch = models.PositiveIntegerField(default=0)
    epochs = models.PositiveIntegerField(default=0)
    loss = models.FloatField(null=True, blank=True)
    eta_seconds = models.FloatField(null=True, blank=True)
    report = models.JSONField(
        default=dict, blank=True, help_text="data summary, val metrics, promotion decision"
    )

    class Meta(Job.Meta):
        constraints = [
            # The per-project training lock lives in the database, not in a worker's memory:
            # it survives worker restarts and holds across any number of web/worker processes.
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(status__in=ACTIVE_RUN_STATUSES),
                name="one_active_training_run_per_project",
            )
        ]

    def __str__(self) -> str:
        return f"training run #{self.pk} ({self.status})"


class ProjectTraining(Project):
    """Projects as seen from the training side of the admin (the 'start a run' action lives here)."""

    class Meta:
        proxy = True
        verbose_name = "project training"
        verbose_name_plural = "project training"


class GateMode(models.TextChoices):
    PRELABEL = "prelabel", "Pre-labels"
    SUGGEST = "suggest", "Suggestions"


class TrustGate(models.Model):
    """What the trust gate learned for one project and model version (``learning.trust``)."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="trust_gates")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="trust_gates")
    mode = models.CharField(max_length=8, choices=GateMode.choices)
    threshold = models.FloatField(
        null=True,
        blank=True,
        help_text="shapes scoring at least this are shown; empty: none is worth showing",
    )
    precision = models.FloatField(null=True, blank=True)
    recall = models.FloatField(null=True, blank=True)
    seconds_saved_per_image = models.FloatField(null=True, blank=True)
    reviewed_images = models.PositiveIntegerField(default=0)
    reason = models.TextField(blank=True, default="")
    learned = models.BooleanField(default=False, help_text="false: the checkpoint's default, too few reviews")
    curve = models.JSONField(
        default=list, blank=True, help_text="[{threshold, precision, recall, seconds saved per mode}]"
    )
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "model_version"], name="one_trust_gate_per_version")
        ]

    def __str__(self) -> str:
        return f"trust gate of {self.model_version} on {self.project}: {self.mode}"


class TrustGateRefresh(models.Model):
    """Whether a recomputation of a project's trust gate is queued and not yet started (``trust_refresh``)."""

    project = models.OneToOneField(
        "projects.Project", on_delete=models.CASCADE, related_name="trust_gate_refresh"
    )
    queued_at = models.DateTimeField(
        null=True, blank=True, help_text="when the waiting refresh was queued; empty once it has started"
    )

    def __str__(self) -> str:
        return f"trust gate refresh of {self.project}"


class TrustGatePin(models.Model):
    """An admin's override of the trust gate for a project: the mode, the threshold, or both."""

    project = models.OneToOneField(
        "projects.Project", on_delete=models.CASCADE, related_name="trust_gate_pin"
    )
    mode = models.CharField(max_length=8, choices=GateMode.choices, blank=True, default="")
    threshold = models.FloatField(null=True, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"trust gate pin of {self.project}"

"""Projects, who may work in them, their categories, and their images.

The image status machine lives here, in ``Image.TRANSITIONS``; services call
``image.transition_to`` and never assign ``status`` directly.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

DEFAULT_CATEGORIES = [
    # (name, colour) — export ids follow this order, starting at 1. The names are also the
    # universal model's taxonomy, which project categories map onto.
    ("cardboard_box", "#c8842c"),
    ("padded_mailer", "#e6c229"),
    ("plastic_bag", "#3fa7d6"),
    ("envelope", "#8e6bbf"),
    ("item", "#59b26a"),
]


class Project(models.Model):
    class QueueStrategy(models.TextChoices):
        UNCERTAINTY_DIVERSITY = "uncertainty+diversity", "Uncertainty + diversity"
        UNCERTAINTY = "uncertainty", "Uncertainty"
        RANDOM = "random", "Random"
        FIFO = "fifo", "First in, first out"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    description = models.TextField(blank=True, default="")
    auto_pre_label = models.BooleanField(default=True, help_text="pre-label every uploaded image")
    retrain_threshold = models.PositiveIntegerField(
        default=50, help_text="start a training run after this many newly accepted images"
    )
    queue_strategy = models.CharField(
        max_length=32, choices=QueueStrategy.choices, default=QueueStrategy.UNCERTAINTY_DIVERSITY
    )
    prompt_engine = models.CharField(max_length=32, default="default", help_text="default | sam | grabcut")
    contribute_to_universal = models.BooleanField(default=False)
    annotators_can_upload = models.BooleanField(
        default=False, help_text="annotators may upload images (reviewers and admins always may)"
    )
    contribution_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    contribution_changed_at = models.DateTimeField(null=True, blank=True)
    active_model = models.ForeignKey(
        "learning.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    REVIEWER = "reviewer", "Reviewer"
    ANNOTATOR = "annotator", "Annotator"


# What each role may do; checked by annotator.projects.permissions.
ROLE_RANK = {Role.ANNOTATOR: 1, Role.REVIEWER: 2, Role.ADMIN: 3}


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.project}"


class Category(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="categories")
    name = models.CharField(max_length=100)
    color = models.CharField(max_length=7, default="#ff0000", help_text="#rrggbb")
    export_id = models.PositiveIntegerField(help_text="stable COCO category id")
    position = models.PositiveIntegerField(
        default=0, help_text="place in the palette (keys 1-9); reordering never changes export_id"
    )
    universal_name = models.CharField(
        max_length=100,
        blank=True,
        default="",
        choices=[(name, name) for name, _ in DEFAULT_CATEGORIES],
        help_text="universal taxonomy class; empty = project-only",
    )

    class Meta:
        ordering = ["position", "export_id"]
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="unique_category_name"),
            models.UniqueConstraint(fields=["project", "export_id"], name="unique_category_export_id"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.project})"

    def save(self, *args, **kwargs) -> None:
        # A new category without a place goes last, whichever path creates it (services, COCO import).
        if self._state.adding and not self.position:
            last = Category.objects.filter(project_id=self.project_id).aggregate(m=models.Max("position"))[
                "m"
            ]
            self.position = (last or 0) + 1
        super().save(*args, **kwargs)


class ImageStatus(models.TextChoices):
    NEW = "new", "New"
    PRE_LABELED = "pre_labeled", "Pre-labelled"
    IN_PROGRESS = "in_progress", "In progress"
    SUBMITTED = "submitted", "Submitted"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


def image_upload_path(instance: Image, filename: str) -> str:
    # Content-addressed: never collides, never trusts the uploaded name.
    return (
        f"projects/{instance.project_id}/images/{instance.sha256[:2]}/{instance.sha256}.{instance.file_ext}"
    )


def thumbnail_upload_path(instance: Image, filename: str) -> str:
    return f"projects/{instance.project_id}/thumbnails/{instance.sha256[:2]}/{instance.sha256}.jpg"


class Image(models.Model):
    Status = ImageStatus

    # status -> statuses it may move to. Rejected images go back to work, or are submitted again
    # unchanged (an annotator who disagrees with the rejection: the reviewer sees it again); accepted
    # ones can be reopened by a reviewer. Saving annotations moves new/pre_labeled/rejected to
    # in_progress; an image can be submitted untouched (nothing to label, or pre-labels accepted as
    # they are).
    TRANSITIONS: dict[str, set[str]] = {
        ImageStatus.NEW: {ImageStatus.PRE_LABELED, ImageStatus.IN_PROGRESS, ImageStatus.SUBMITTED},
        ImageStatus.PRE_LABELED: {ImageStatus.IN_PROGRESS, ImageStatus.PRE_LABELED, ImageStatus.SUBMITTED},
        ImageStatus.IN_PROGRESS: {ImageStatus.SUBMITTED},
        ImageStatus.SUBMITTED: {ImageStatus.ACCEPTED, ImageStatus.REJECTED, ImageStatus.IN_PROGRESS},
        ImageStatus.REJECTED: {ImageStatus.IN_PROGRESS, ImageStatus.SUBMITTED},
        ImageStatus.ACCEPTED: {ImageStatus.IN_PROGRESS},
    }

    class Split(models.TextChoices):
        UNASSIGNED = "", "Unassigned"
        TRAIN = "train", "Train"
        VAL = "val", "Validation"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="images")
    name = models.CharField(max_length=255, help_text="original file name, sanitised")
    file = models.FileField(upload_to=image_upload_path, max_length=300)
    thumbnail = models.FileField(upload_to=thumbnail_upload_path, max_length=300, blank=True)
    file_ext = models.CharField(max_length=8, default="jpg")
    sha256 = models.CharField(max_length=64)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    status = models.CharField(
        max_length=16, choices=ImageStatus.choices, default=ImageStatus.NEW, db_index=True
    )
    split = models.CharField(max_length=8, choices=Split.choices, default=Split.UNASSIGNED, blank=True)
    lease_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="leases"
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    uncertainty = models.FloatField(null=True, blank=True)
    features = models.JSONField(null=True, blank=True, help_text="image descriptor for diversity sampling")
    features_model = (
        models.ForeignKey(  # the version whose encoder computed ``features``: others' are not comparable
            "learning.ModelVersion",
            null=True,
            blank=True,
            on_delete=models.SET_NULL,
            related_name="+",
        )
    )
    predicted_instances = models.PositiveIntegerField(  # by ``features_model``: the queue's content weight
        null=True,
        blank=True,
        help_text="instances the model that computed the features found",
    )
    version = models.PositiveIntegerField(default=0, help_text="optimistic lock; +1 on every save")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    status_changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["project", "sha256"], name="unique_image_per_project")]
        indexes = [
            models.Index(fields=["project", "status"]),
            models.Index(fields=["project", "split"]),
        ]

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk})"

    def can_transition_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.status, set())

    def transition_to(self, status: str) -> None:
        """Change status if the machine allows it; raises ``InvalidTransition`` otherwise."""
        if not self.can_transition_to(status):
            raise InvalidTransition(self.status, status)
        self.status = status
        self.status_changed_at = timezone.now()

    def lease_is_active(self, now=None) -> bool:
        now = now or timezone.now()
        return bool(self.lease_user_id and self.lease_expires_at and self.lease_expires_at > now)


class InvalidTransition(Exception):
    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"An image that is '{current}' cannot become '{target}'")
        self.current = current
        self.target = target

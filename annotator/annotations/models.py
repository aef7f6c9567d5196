"""The current annotation set of an image, and every saved version of it.

The current set is replaced atomically by ``annotator.annotations.services``; each save
also writes a ``Revision`` holding the full set as JSON, so nothing a person drew is lost.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Source(models.TextChoices):
    MANUAL = "manual", "Manual"
    MODEL = "model", "Model pre-label"
    SAM = "sam", "SAM prompt"


class Annotation(models.Model):
    image = models.ForeignKey("projects.Image", on_delete=models.CASCADE, related_name="annotations")
    category = models.ForeignKey("projects.Category", on_delete=models.PROTECT, related_name="annotations")
    shape = models.JSONField(help_text="MultiPolygon [[exterior, hole, ...], ...] in image pixels")
    bbox = models.JSONField(help_text="[x, y, width, height] in image pixels")
    area = models.FloatField(help_text="square pixels, holes subtracted")
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.MANUAL)
    score = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.category.name} on image #{self.image_id}"


class Revision(models.Model):
    class Action(models.TextChoices):
        PRE_LABEL = "pre_label", "Pre-label"
        SAVE = "save", "Save"
        SUBMIT = "submit", "Submit"
        ACCEPT = "accept", "Accept"
        REJECT = "reject", "Reject"
        IMPORT = "import", "Import"

    image = models.ForeignKey("projects.Image", on_delete=models.CASCADE, related_name="revisions")
    version = models.PositiveIntegerField(help_text="the image version this revision produced")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=16, choices=Action.choices)
    annotations = models.JSONField(help_text="the full set after this action")
    comment = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["image_id", "version", "id"]
        constraints = [models.UniqueConstraint(fields=["image", "version"], name="one_revision_per_version")]

    def __str__(self) -> str:
        return f"{self.action} v{self.version} of image #{self.image_id}"

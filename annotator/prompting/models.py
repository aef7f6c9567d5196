"""The prompt engine's embeddings, one file per image content and engine.

The table belongs to the ``learning`` app (``app_label``): it was created by learning's
migrations, and keeping the label keeps the schema where it is. The code is prompting's.
"""

from __future__ import annotations

from django.db import models


class Embedding(models.Model):
    """A prompt-engine embedding stored on disk (float16), keyed by image content + engine."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    image = models.ForeignKey("projects.Image", on_delete=models.CASCADE, related_name="embeddings")
    engine_id = models.CharField(max_length=200)
    path = models.CharField(max_length=500, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    message = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "learning"  # the table was created by learning's migrations; no migration moves it
        constraints = [
            models.UniqueConstraint(fields=["image", "engine_id"], name="one_embedding_per_engine")
        ]

    def __str__(self) -> str:
        return f"embedding of image #{self.image_id} ({self.engine_id}, {self.status})"

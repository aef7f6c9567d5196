"""What prompting does when a lower app announces something (connected in ``apps.PromptingConfig.ready``)."""

from __future__ import annotations

from .services import images_embed


def embed_new_images(*, project, image_ids: list[int], **_: object) -> None:
    """``projects.signals.images_added``: the new images' embeddings, so the first click is fast."""
    images_embed(project=project, image_ids=image_ids)

"""Prompt segmentation: clicks / a box / a previous mask -> mask -> polygon.

``build_engine`` is the one entry point the app uses; every answer carries ``engine_id``.
"""

from __future__ import annotations

from pathlib import Path

from ml.prompt.engine import (
    Embedding,
    EmbeddingMismatchError,
    InvalidPromptError,
    PromptEngine,
    Prompts,
    SegmentResult,
    segment_to_polygons,
    validate_prompts,
)

ENGINE_NAMES = ("sam", "grabcut", "offline", "default")


def build_engine(
    name: str,
    *,
    checkpoint: str | Path | None = None,
    model_type: str = "vit_b",
    precision: str = "auto",
    compile: bool = False,
) -> PromptEngine:
    """Build a prompt engine by name.

    * ``sam``: segment-anything with ``checkpoint`` (required) of ``model_type``, in
      ``precision`` (``auto`` / ``bf16`` / ``fp32``), its decoder optionally ``compile``-d
      (see ``ml.prompt.sam.ClickDecoder``).
    * ``grabcut``: the OpenCV GrabCut baseline.
    * ``offline``: the engine for machines without SAM weights (seeded watershed).
    * ``default``: what this machine uses: SAM when a checkpoint is given, else ``offline``.
    """
    if name == "default":
        name = "sam" if checkpoint else "offline"
    if name == "sam":
        if not checkpoint:
            raise ValueError("the sam engine needs a checkpoint path (SAM_CHECKPOINT)")
        from ml.prompt.sam import SamEngine

        return SamEngine.from_checkpoint(checkpoint, model_type, precision=precision, compile=compile)
    if name == "grabcut":
        from ml.prompt.grabcut import GrabCutEngine

        return GrabCutEngine()
    if name == "offline":
        from ml.prompt.offline import OfflineEngine

        return OfflineEngine()
    raise ValueError(f"unknown prompt engine {name!r}; choose one of {', '.join(ENGINE_NAMES)}")


__all__ = [
    "ENGINE_NAMES",
    "Embedding",
    "EmbeddingMismatchError",
    "InvalidPromptError",
    "PromptEngine",
    "Prompts",
    "SegmentResult",
    "build_engine",
    "segment_to_polygons",
    "validate_prompts",
]

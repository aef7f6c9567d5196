"""Retraining the universal base: the current base fine-tuned on every contributed source plus synthetic scenes."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ml.fleet.data import BoxSource, CocoSource, merge_coco
from ml.universal.data import load_coco
from ml.universal.train import train

BASE_LR = 2e-3


def retrain_base(
    init_checkpoint: str | Path,
    sources: Sequence[CocoSource],
    val_coco: str | Path,
    out_path: str | Path,
    *,
    work_dir: str | Path,
    budget_seconds: float | None = None,
    epochs: int | None = None,
    steps: int | None = None,
    progress: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    batch_size: int = 8,
    lr: float = BASE_LR,
    seed: int = 0,
    threads: int = 2,
    box_sources: Sequence[BoxSource] = (),
    precision: str = "fp32",
    device: str = "cpu",
) -> dict[str, Any]:
    """Train the next base from ``init_checkpoint`` on the union of ``sources`` (masks) and ``box_sources``
    (photos labelled with boxes, each trained as ``BoxDataset``); val metrics (mask AP) on ``val_coco``.

    Training ends at ``steps`` optimiser steps (or ``epochs``), or when ``budget_seconds`` of
    wall-clock are spent, whichever comes first. Returns the metrics of
    :func:`ml.universal.train.train` plus ``data`` (the merge summary, per source; box sources by image count).
    ``precision`` and ``device`` are ``train``'s.
    """
    merged = Path(work_dir) / "base_train.json"
    summary = merge_coco(sources, merged)
    n_images = len(load_coco(merged)["images"])
    for box in box_sources:
        count = len(load_coco(box.coco)["images"])
        summary["sources"][box.name] = {"images": count, "boxes": True}
        n_images += count
    if n_images == 0:
        raise ValueError("no images to train the base on")
    batch = max(1, min(batch_size, n_images))
    if steps is not None:
        epochs = max(1, math.ceil(steps / max(n_images // batch, 1)))
    masks = {"coco": str(merged), "images_dir": None}
    data: dict[str, Any] | list[dict[str, Any]] = masks
    if box_sources:
        data = [*([masks] if summary["images"] else []), *(box.spec() for box in box_sources)]
    config = {
        "init": str(init_checkpoint),
        "data": data,
        "val": {"coco": str(val_coco), "images_dir": None},
        "epochs": int(epochs or 10_000),
        "batch_size": batch,
        "lr": lr,
        "budget_seconds": float(budget_seconds) if budget_seconds and math.isfinite(budget_seconds) else None,
        "out": str(out_path),
        "seed": seed,
        "threads": threads,
        "precision": precision,
        "device": device,
    }
    return {**train(config, progress=progress, should_stop=should_stop), "data": summary}

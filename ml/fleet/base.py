"""Retraining the universal base: the current base fine-tuned on every contributed source plus synthetic scenes."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ml.fleet.data import BoxSource, CocoSource, merge_coco
from ml.universal.calibrate import blend
from ml.universal.checkpoint import load_checkpoint, save_checkpoint
from ml.universal.data import load_coco
from ml.universal.train import train

BASE_LR = 2e-3
# The blend grid of a retrained base with the base it started from: alpha = k / BLEND_GRID, k = 1 .. BLEND_GRID
# (alpha 1: the retrained base as is). Four points: the fleet run on real teams (docs/fleet.md).
BLEND_GRID = 4


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
    freeze_batchnorm: bool = False,
) -> dict[str, Any]:
    """Train the next base from ``init_checkpoint`` on the union of ``sources`` (masks) and ``box_sources``
    (photos labelled with boxes, each trained as ``BoxDataset``); val metrics (mask AP) on ``val_coco``.

    Training ends at ``steps`` optimiser steps (or ``epochs``), or when ``budget_seconds`` of
    wall-clock are spent, whichever comes first. Returns the metrics of
    :func:`ml.universal.train.train` plus ``data`` (the merge summary, per source; box sources by image count).
    ``precision``, ``device`` and ``freeze_batchnorm`` (BatchNorm stays on the init's statistics) are ``train``'s.
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
        "freeze_batchnorm": bool(freeze_batchnorm),
    }
    return {**train(config, progress=progress, should_stop=should_stop), "data": summary}


def blend_alphas(grid: int) -> list[float]:
    """The retrained base's share in each blend tried: k / ``grid`` for k = 1 .. ``grid`` (1: no blending)."""
    if grid < 1:
        raise ValueError(f"the blend grid needs at least one point, got {grid}")
    return [round(k / grid, 4) for k in range(1, grid + 1)]


def blend_with_previous(
    retrained: str | Path,
    previous: str | Path,
    out_path: str | Path,
    score: Callable[[Path], dict[str, float]],
    *,
    work_dir: str | Path,
    grid: int = BLEND_GRID,
) -> dict[str, Any]:
    """The next base: the retrained weights averaged with the ``previous`` base's (WiSE-FT, Wortsman et al.,
    2022), ``alpha`` x retrained + (1 - alpha) x previous, with the alpha whose ``score`` (a checkpoint's AP on
    each gate set: the synthetic held-out scenes and the contributing teams' val splits) has the best mean.

    A retraining on the contributed photos moves the base away from what it knew (docs/fleet.md: one retraining on
    a shop site's photos took another site from 0.547 to 0.260 box AP50); the average keeps it and often keeps the
    gain too. Ties go to the larger alpha (more of the new training). Writes the chosen blend to ``out_path`` with
    the retrained checkpoint's metadata plus ``blend`` (the tried blends are deleted); returns ``alpha``, every
    alpha's scores and ``tries``, the path each alpha was scored at (a caller may reuse what its ``score`` saw).
    """
    new, meta = load_checkpoint(retrained)
    old, old_meta = load_checkpoint(previous)
    shapes = [{k: tuple(v.shape) for k, v in m.state_dict().items()} for m in (new, old)]
    if shapes[0] != shapes[1]:
        raise ValueError(
            f"{retrained} ({meta['architecture']}) and {previous} ({old_meta['architecture']}) "
            "have different weights: they cannot be averaged"
        )
    tries = {  # alpha 1 is the retrained checkpoint itself
        alpha: Path(retrained)
        if alpha == 1.0
        else Path(work_dir) / f"{Path(retrained).stem}_blend_{alpha:g}.pt"
        for alpha in blend_alphas(grid)
    }
    tried: dict[float, dict[str, float]] = {}
    for alpha, path in tries.items():
        if alpha != 1.0:
            save_checkpoint(path, blend(new, old, alpha), {**meta, "blend": {"alpha": alpha}})
        tried[alpha] = {name: round(float(ap), 4) for name, ap in score(path).items()}
    means = {alpha: sum(s.values()) / max(len(s), 1) for alpha, s in tried.items()}
    chosen = max(means, key=lambda alpha: (round(means[alpha], 6), alpha))
    info = {"alpha": chosen, "previous": str(previous), "retrained": str(retrained)}
    model = new if chosen == 1.0 else blend(new, old, chosen)
    save_checkpoint(out_path, model, {**meta, "blend": info})
    for alpha, path in tries.items():  # the tries are scored; only the chosen one is kept, at out_path
        if alpha != 1.0:
            path.unlink(missing_ok=True)
    return {
        **info,
        "scores": {f"{a:g}": s for a, s in tried.items()},
        "means": {f"{a:g}": round(m, 4) for a, m in means.items()},
        "tries": {f"{a:g}": str(path) for a, path in tries.items()},
    }

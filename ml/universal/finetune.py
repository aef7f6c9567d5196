"""Fine-tuning a universal checkpoint on a project's COCO annotations (the app's retraining).

Categories are matched by *name* against the base checkpoint's categories; COCO categories
the checkpoint does not know are ignored in the loss (their pixels are neither object nor
background). Images are resized like at inference (long side = the checkpoint's input size).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ml.universal.box_eval import predict_boxes
from ml.universal.calibration import DEFAULT_THRESHOLD, fit_platt, reliability
from ml.universal.checkpoint import load_checkpoint, save_checkpoint
from ml.universal.coco_eval import box_matches
from ml.universal.data import load_coco
from ml.universal.predictor import UniversalPredictor
from ml.universal.train import train

# Measured on ml.experiments.active.simulate's new site (base mask AP 0.159; 12 epochs of batch 4; one draw
# of 10 / 40 / 80 labelled images): lr 1e-3 with BatchNorm re-estimated on those images at the
# end (the former default) 0.12 / 0.14 / 0.20, so 10 labels made the model worse than the base
# (0.08-0.12 over three draws); lr 3e-4 alone 0.15 / 0.17 / 0.20; BatchNorm frozen alone
# 0.13 / 0.16 / 0.21; both 0.18 / 0.19 / 0.23.
FINE_TUNE_LR = 3e-4
# On real photos labelled with boxes (the harnesses' real sites) the val frames of site W chose 3e-5 (1e-4
# once) from 3e-5 / 1e-4 (docs/fewshot.md), and 3e-4 erased the base in the active-learning run on W: AP50
# 0.207 -> 0.045 after 20 frames (docs/active_learning.md, "On real photos").
BOX_FINE_TUNE_LR = 3e-5
FINE_TUNE_FREEZE_BATCHNORM = True
# With a fixed number of epochs, a handful of images gets a handful of steps (10 images in
# batches of 4: 20 steps in 10 epochs) and the model ends worse than the base. Measured on the
# simulation's new site (--seed 11 pool and val, bfloat16, three draws each, lr 3e-4): mask AP with
# 10 images 0.133 at 20 steps, 0.140 at >= 60, 0.138 at >= 100; 20 images 0.154 at 50 steps, 0.158
# at 60; 40 images unchanged (100 steps either way). In the simulation (--quick), random picks' AP at
# 10 labels went from 0.128 to 0.148 (--seed 11, 8 pools) and from 0.142, below the base's 0.159, to
# 0.162 (--seed 7, 6 pools).
FINE_TUNE_MIN_STEPS = 60  # for fixed-epoch fine-tunes; the app's budget-bound runs take thousands
# A Platt fit on fewer shapes than this, or on shapes all right or all wrong, is noise: the fine-tune
# then stays uncalibrated (threshold 0) and the app's trust gate starts it as suggestions.
MIN_CALIBRATION_SHAPES = 30
REHEARSAL_SEED = 7_000_000  # rehearsal scenes' seeds: none of the base's training or test seeds


def fine_tune(
    base_checkpoint: str | Path,
    train_coco: str | Path,
    val_coco: str | Path | None,
    out_path: str | Path,
    *,
    budget_seconds: float,
    epochs: int | None = None,
    steps: int | None = None,
    min_steps: int = 0,
    progress: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    images_dir: str | Path | None = None,
    val_images_dir: str | Path | None = None,
    batch_size: int = 8,
    lr: float = FINE_TUNE_LR,
    seed: int = 0,
    threads: int = 2,
    precision: str = "fp32",
    rehearsal: int = 0,
    boxes_source_map: str | Path | None = None,
    device: str = "cpu",
    contact_weight: float | None = None,
) -> dict[str, Any]:
    """Fine-tune ``base_checkpoint`` within ``budget_seconds`` of training wall-clock time.

    ``epochs=None`` trains until the budget is spent (the cosine schedule follows the clock);
    ``steps`` fixes the number of optimizer steps instead (whichever of steps and budget ends first).
    Given ``epochs``, training takes at least ``min_steps`` steps (e.g. ``FINE_TUNE_MIN_STEPS``),
    however few the images.
    Image ``file_name``s are relative to each COCO file's folder unless ``images_dir`` /
    ``val_images_dir`` is given. Returns val metrics (``mask_ap``, ``mask_ap50``, ``mask_ap75``,
    ``per_class``, ...), ``loss``, ``train_seconds`` and ``checkpoint`` (= ``out_path``).
    ``threads`` is torch's intra-op thread count; on a machine busy with other work, 1 thread
    trained faster than 2 here (OpenMP spin-waits). BatchNorm keeps the base's statistics
    (``FINE_TUNE_FREEZE_BATCHNORM``): a project's few images in batches of a few are too noisy
    an estimate of them. ``precision`` is the training steps' autocast
    (``ml.universal.engine.training_dtype``; ``"auto"``: bfloat16 where the CPU has it natively).
    ``rehearsal`` fresh synthetic scenes of the base's own domains are mixed into every epoch, so
    that skewed picks (e.g. only the scenes the model fails on) do not make it forget the rest; a
    fixed-epoch fine-tune keeps its step count, so they take the place of repeats of the labelled
    images rather than adding compute. With ``boxes_source_map`` (a real set's ``source_map.csv``),
    ``train_coco`` holds boxes, not masks, and trains as ``data.BoxDataset`` captures do. Without
    ``val_coco`` the checkpoint is neither scored nor calibrated (an experiment scores it itself).
    ``device`` is where the training steps run (``train``'s ``device``: ``cpu``, ``cuda`` or ``auto``).
    ``contact_weight`` (``engine.compute_loss``) is the base's own by default (``meta["data"]``), so a
    fine-tune keeps the loss its base was trained with.
    """
    n_images = len(load_coco(train_coco)["images"])
    if n_images == 0:
        raise ValueError(f"{train_coco} has no images to train on")
    batch_size = max(1, min(batch_size, n_images))
    if epochs is None:
        epochs = 10_000  # effectively unbounded: the budget ends training
    elif not steps:
        steps = max(int(epochs) * (n_images // batch_size), min_steps)  # the loader drops a last short batch
    config = {
        "init": str(base_checkpoint),
        "data": _train_spec(train_coco, images_dir, boxes_source_map),
        "rehearsal": {"synthetic": {"count": int(rehearsal), "seed": REHEARSAL_SEED}} if rehearsal else None,
        "val": {"coco": str(val_coco), "images_dir": str(val_images_dir) if val_images_dir else None}
        if val_coco
        else None,
        "epochs": int(epochs),
        "steps": int(steps) if steps else None,
        "batch_size": batch_size,
        "lr": lr,
        "budget_seconds": float(budget_seconds) if budget_seconds and math.isfinite(budget_seconds) else None,
        "out": str(out_path),
        "seed": seed,
        "threads": threads,
        "freeze_batchnorm": FINE_TUNE_FREEZE_BATCHNORM,
        "precision": precision,
        "device": device,
        "contact_weight": contact_weight,  # None: the base's own (train reads it from the base's meta)
    }
    result = train(config, progress=progress, should_stop=should_stop)
    if val_coco and Path(out_path).is_file():
        result["score_calibration"] = calibrate_on_val(out_path, val_coco, val_images_dir)
    return result


def _train_spec(
    train_coco: str | Path, images_dir: str | Path | None, boxes_source_map: str | Path | None
) -> dict[str, Any]:
    folder = str(images_dir) if images_dir else None
    if boxes_source_map is None:
        return {"coco": str(train_coco), "images_dir": folder}
    return {"boxes": {"coco": str(train_coco), "source_map": str(boxes_source_map), "images_dir": folder}}


def calibrate_on_val(
    checkpoint: str | Path, val_coco: str | Path, val_images_dir: str | Path | None = None
) -> dict[str, float] | None:
    """Fit the checkpoint's score calibration on a val split and store it, with the default threshold.

    The scores become the probability that a shape matches a labelled box at IoU >= 0.5, as the
    shipped base's are (``python -m ml.universal.calibrate``, which also searches the inference
    settings; a fine-tune keeps its base's). Platt's map is monotone, so the val split's AP, the
    promotion gate's measure, does not move. Returns the fit, or None when the split gives fewer
    than ``MIN_CALIBRATION_SHAPES`` shapes, shapes all right or all wrong, or a map that ranks
    backwards; the checkpoint is then left as it was.
    """
    matches = box_matches(
        predict_boxes(UniversalPredictor.from_checkpoint(checkpoint), val_coco, val_images_dir)
    )
    correct = [m.matched for m in matches]
    if len(matches) < MIN_CALIBRATION_SHAPES or all(correct) or not any(correct):
        return None
    raw = [m.raw_score for m in matches]
    platt = fit_platt(raw, correct)
    if platt["a"] <= 0:
        return None
    model, meta = load_checkpoint(checkpoint)
    meta["score_calibration"] = platt
    meta["default_threshold"] = DEFAULT_THRESHOLD
    meta["calibration"] = {
        "validation": {"coco": str(val_coco), "shapes": len(matches)},
        "ece_raw": reliability(raw, correct)["ece"],
    }
    save_checkpoint(checkpoint, model, meta)
    return platt

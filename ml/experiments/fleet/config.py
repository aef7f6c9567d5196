"""The fleet proof's settings: ``FleetConfig`` (every field a ``simulate`` flag) with the ``--quick`` preset, and
``RealFleetConfig`` for the real teams (``--real``) with its full and ``--tiny`` presets."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml.fleet.base import BLEND_GRID
from ml.universal.data import load_coco
from ml.universal.finetune import BOX_FINE_TUNE_LR

SYNTHETIC = "synthetic"  # the synthetic held-out set's name among the evaluation sets


@dataclass
class FleetConfig:
    scene_size: int = 160  # rendered and seen at this size (px, square)
    architecture: str = "unet_xs"
    synthetic_train: int = 320
    synthetic_val: int = 40
    team_labels: int = 48  # labelled train scenes per team
    team_val: int = 24
    v1_steps: int = 700  # base v1 from scratch
    base_steps: int = 300  # each base retraining
    fine_tune_steps: int = 100  # each team fine-tune (any label count)
    synthetic_replay: int = 96  # synthetic scenes mixed into each base retraining
    batch_size: int = 8
    tolerance: float = 0.02
    seed: int = 11
    threads: int = 1  # the machine is shared; one thread per process wastes least


QUICK = FleetConfig(
    scene_size=128,
    synthetic_train=160,
    synthetic_val=24,
    team_labels=24,
    team_val=16,
    v1_steps=320,
    base_steps=140,
    fine_tune_steps=50,
    synthetic_replay=48,
)


@dataclass
class RealFleetConfig(FleetConfig):
    """The real teams' run. ``team_labels`` / ``team_val`` cap each team's labels / val images (spread evenly
    over them; 0: all); ``scene_size`` is the synthetic scenes' size only; ``input_size`` is the photos' long
    side in the network (0: the init's); ``synthetic_train`` and ``v1_steps`` train v1 only without ``--init``."""

    input_size: int = 0
    lr: float = BOX_FINE_TUNE_LR  # the teams' fine-tunes on boxes (ml.universal.finetune)
    # Each base retraining: the gentlest recipe measured (docs/fleet.md, "Why team 3 learns less from v3"): the
    # box fine-tunes' rate, the current base's BatchNorm statistics kept, the teams' boxes as positives only (no
    # pixel of their photos taken as background). The first runs: lr 6e-4 (the eighth base's), BatchNorm
    # learning, background.
    base_lr: float = BOX_FINE_TUNE_LR
    base_freeze_batchnorm: bool = True
    base_box_background: bool = False
    r_val_every: int = 3  # R (19 photos, no shipped split of its own): every 3rd one is its val
    w_val_every: int = 4  # fewshot.sites' val frames of W (unused here: W's val is its held-out test videos)
    blend_grid: int = BLEND_GRID  # each next base: retrained x alpha + previous x (1 - alpha), alpha k / grid
    generations: int = 3  # base retrainings: 3 (v2 to v4) or 2 (v2, v3; team 3 still fine-tunes from v3)
    curve_points: int = 6  # team 3's label curve: all its labels, half, a quarter, ... (6: down to 1/32)
    draws: int = 500  # the paired bootstrap of team 3's label saving (val images resampled)
    precision: str = "auto"  # training steps' autocast (ml.universal.engine.training_dtype)
    device: str = "auto"  # where the training steps run (cuda where there is one)


# For a GPU session: all of each team's labels and val images (S 326 / 57, R 12 / 7, W 539 / 122), the init's
# input size (the seventh base: 448 px), 200-step fine-tunes and ~1,000-step base retrainings: ~4,800 training
# steps on the GPU and ~1,800 predictions on its CPU cores (the predictor runs on the CPU), ~10-13 min on an H100
# by an estimate from CPU timings (issue 29); --workdir resumes a run cut at the 10-minute call limit.
# Run on 2026-12-06 on 2 AVX2 CPU cores with --input-size 320 --base-steps 500 --generations 2 --curve-points 4
# --device cpu: 21 min with this recipe and team 3's v1 curve already made (about 35 min without; docs/fleet.md).
REAL = RealFleetConfig(
    scene_size=256,
    synthetic_val=60,
    team_labels=0,
    team_val=0,
    base_steps=1000,
    fine_tune_steps=200,
    synthetic_replay=200,
    batch_size=8,
    seed=29,
    threads=8,
)
# A few images and steps: keeps the harness runnable in the tests and on a shared CPU; measures nothing.
REAL_TINY = RealFleetConfig(
    scene_size=64,
    synthetic_train=8,
    synthetic_val=4,
    team_labels=4,
    team_val=3,
    v1_steps=2,
    base_steps=2,
    fine_tune_steps=2,
    synthetic_replay=4,
    batch_size=2,
    input_size=64,
    blend_grid=2,
    curve_points=2,
    draws=20,
    seed=29,
    device="cpu",
)


def steps_config(
    init: Path | None, train_coco: Path, val_coco: Path, out: Path, steps: int, lr: float, cfg: FleetConfig
) -> dict[str, Any]:
    """``ml.universal.train``'s config for ``steps`` optimiser steps on a COCO file of masks (whole epochs)."""
    n = len(load_coco(train_coco)["images"])
    batch = max(1, min(cfg.batch_size, n))
    return {
        "init": str(init) if init else None,
        "architecture": cfg.architecture,
        "input_size": cfg.scene_size,
        "data": {"coco": str(train_coco)},
        "val": {"coco": str(val_coco)},
        "epochs": max(1, math.ceil(steps / max(n // batch, 1))),
        "batch_size": batch,
        "lr": lr,
        "budget_seconds": None,
        "out": str(out),
        "seed": cfg.seed,
        "threads": cfg.threads,
    }

"""The active-learning simulation's settings (``SimConfig``, every field a ``simulate`` CLI flag) and the
``--quick`` preset."""

from __future__ import annotations

from dataclasses import dataclass

from ml.active.ranking import (
    DEFAULT_ALPHA,
    DEFAULT_COLD_START,
    DEFAULT_CONTENT_POWER,
    DEFAULT_DENSITY,
)
from ml.universal.finetune import BOX_FINE_TUNE_LR, FINE_TUNE_LR, FINE_TUNE_MIN_STEPS

STRATEGIES = ("random", "uncertainty+diversity")
TARGET = 0.40  # the label_savings target


@dataclass
class SimConfig:
    # 5 rounds of 20 over 100 captures (400 frames): up to 100 labels. Until 2026-12-04 it was 5 rounds of 10
    # over 50 captures (up to 50 labels). There random's curve rose 0.016 from 30 to 50 labels, inside the
    # spread between pools, and no 30 labels, even chosen with the oracle's knowledge, reached random's 50
    # (ml.experiments.active.headroom), so the statistic mostly measured noise. Active learning is a method for budgets
    # past that cold start (Hacohen et al., 2022; MaskAL compares hundreds of images). docs/active_learning.md,
    # "A wider label range".
    pool: int = 400
    val: int = 96
    rounds: int = 5
    batch: int = 20
    scene_size: int = 192
    epochs: int = 10  # passes over the labelled set per fine-tune, when steps is 0
    # optimizer steps per fine-tune whatever the label count (0: epochs decide), as the app's runs get a time
    # budget, not a number of epochs. 10 epochs gave 60-125 steps, too few to learn the branded parcels
    # (docs/active_learning.md, "A site with its own parcels").
    steps: int = 300
    # with steps_per_label > 0, a fine-tune on n labels takes max(steps, steps_per_label * n) steps: a run that
    # grows with the labels, as a time budget of thousands of steps does for a small project. 300 fixed steps cap
    # the curve: 100 random labels gain 0.017 mask AP over 30 at 300 steps, 0.055 at 1,200 (docs/active_learning.md).
    # Raise budget_seconds with it: 1,200 steps take ~140 s with bfloat16 steps, longer in float32.
    steps_per_label: float = 0.0
    min_steps: int = FINE_TUNE_MIN_STEPS  # floor on the steps of a fixed-epoch fine-tune of a few images
    precision: str = "auto"  # training steps' autocast (ml.universal.engine.training_dtype)
    batch_size: int = 4
    lr: float = FINE_TUNE_LR
    night_share: float = 0.3
    branded_share: float = (
        0.2  # captures holding a customer's branded parcels the base never saw (``branded``)
    )
    # consecutive frames per capture in the pool (site_scenes; the val set has one per capture): a camera's
    # burst over a moving belt. 1 gives independent pool images, the setup of every figure before 2026-12-03.
    frames: int = 4
    alpha: float = DEFAULT_ALPHA  # uncertainty vs diversity in diverse_order (the app's queue uses the same)
    cold_start: int = DEFAULT_COLD_START  # typical picks while fewer images are labelled (diverse_order)
    density: float = DEFAULT_DENSITY  # typicality weight of the queue's gains (diverse_order)
    content_power: float = (
        DEFAULT_CONTENT_POWER  # weight of the predicted instance count in the queue's gains (diverse_order)
    )
    near_duplicates: bool = True  # covered near-duplicate groups go last (diverse_order; the app's queue too)
    seed: int = 7
    repeats: int = (
        8  # independent pools and training seeds; the curves are their mean (single pools: 0-0.8 savings)
    )
    threads: int = 1  # torch threads per process; 2 oversubscribes a 2-core machine that also runs a worker
    workers: int = 2  # processes, each running one (strategy, repeat) loop at a time: one per core
    budget_seconds: float = 300.0  # per fine-tune safety cap; the step count normally ends it first
    rehearsal: float = 0.0  # synthetic base-domain scenes mixed into each fine-tune epoch, per labelled image
    device: str = "cpu"  # where the fine-tunes' training steps run (ml.universal.train's device: cuda, auto)


# Before fixed steps (epochs, 60-step floor), with bfloat16 training steps (AMX): 6 repeats in 237 s wall on the
# 2 cores at load 2-4 from other jobs; 8 repeats took 400-500 s at load 4-5. Before (float32, 3
# repeats, no floor): 5.5 min at load 1-3, 9 min at load 9-11; the full run ~1,300 s at load ~10.
# On an AVX2-only CPU (float32 steps, the 384 px base): 6 repeats in 460 s at load 1.6-2. With the
# flipped 448 px base, on an AVX2-only EPYC (float32 steps), quiet: 6 repeats 656-706 s, over the
# 10 minutes; 5 repeats (2026-12-03) fit: 505 s there, 278 s on an AMX Xeon (bfloat16 steps).
# With 300 fixed steps per fine-tune (2026-12-03, an AVX512 Xeon without bfloat16: float32 steps, ~0.2 s
# each), 4 repeats of 4 rounds took 1,135-1,185 s; 150 steps and 3 repeats fit: 525 s (8 min 48 s wall).
# With rounds of 20 (2026-12-04): 3 rounds over 80 captures, so that, as in the full run, the labels do not
# outnumber the captures. The first try, 4 rounds over 50 captures (80 labels, 6 min wall), had the queue
# trail random in every round (label_savings 0, paired -0.015 +- 0.006; seed 7, 3 pools). This one: 5 min 5 s
# wall on an AVX512-BF16 EPYC (bfloat16 steps); the full run 34 min there.
QUICK = SimConfig(pool=320, val=64, rounds=3, repeats=3, steps=150)

# The real pool (--real, ml.experiments.active.real): site W's pool videos hold 539 frames (270 captures of 2, 135
# of 4); 320 frames of 80 captures per repeat, so repeats differ; 48 val frames; photos seen at 320 px, as fewshot's
# default. 32 fine-tunes of 200 steps on the GPU, ~6,700 predictions on the CPU (val and the queue's pool scoring):
# ~5-8 min on an H100 machine by an estimate from CPU timings (issue 29). Measured on 2026-12-06 with
# --workers 1 --threads 1 --device cpu: 4,913 s on one AVX2 EPYC core (float32), label_savings 0.76.
REAL = SimConfig(
    pool=320,
    val=48,
    rounds=4,
    batch=20,
    scene_size=320,
    steps=200,
    lr=BOX_FINE_TUNE_LR,  # fine-tunes on real boxes (ml.universal.finetune)
    repeats=4,
    workers=4,
    threads=4,
    device="auto",
)
# A few frames and steps: keeps the real mode runnable in the tests and on a shared CPU; measures nothing.
REAL_TINY = SimConfig(
    pool=8, val=3, rounds=2, batch=2, scene_size=64, steps=2, min_steps=0, repeats=2, workers=1, frames=2
)

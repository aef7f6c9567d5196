"""The active-learning loop on synthetic data with an oracle annotator: random vs uncertainty+diversity.

    python -m ml.experiments.active.simulate --json            # the full run
    python -m ml.experiments.active.simulate --json --quick    # <= 10 min on 2 CPU cores

Setup (pure ``ml``, no Django): a pool of synthetic scenes and a fixed val set from a *new
site*: the four scene domains at a smaller scale than the base model was trained at (a
higher-mounted camera), and a share of the scenes under a night-shift lighting the base never
saw (dim, blue cast, sensor noise), and a share of the captures holding the site's own parcels: one
customer's pink branded mailers, bags and envelopes (``branded``), which the base reads as
background. The pool comes in *captures* of ``frames`` consecutive
frames (windows sliding along one rendered strip of belt or floor, as a camera over a moving
belt takes them), so, as on a real site, many pool images are near-duplicates; the val set has
one frame per capture. Each strategy starts with no labels; every round it picks
``batch`` images from the unlabelled pool, the oracle labels them exactly (the generator's
masks), and the shipped base is fine-tuned *from scratch of the round* (always from the base)
on all labels so far for a fixed number of steps (``steps``, or more with ``steps_per_label``; or,
with ``steps`` 0, epochs) with the
product's recipe (``ml.universal.finetune``; training steps in bfloat16 where the CPU has it
natively, ``precision``), then scored (mask AP, in float32) on the val set. ``random`` picks
uniformly; ``uncertainty+diversity`` ranks the pool with the latest model
(``ml.active.ranking.diverse_order`` over its uncertainty and image features, keeping away
from the images already labelled). The (strategy, repeat) loops run in ``workers`` processes.
Single pools are noisy (``label_savings_per_repeat`` in the report ranges from 0 to ~0.6 within
one run), so the curves are means over ``repeats`` pools.

``label_savings`` is 1 - (labels the active strategy needs to reach the random strategy's
final mask AP) / (the random strategy's final label count), the active curve linearly
interpolated between rounds; 0 when it never gets there. ``label_savings_spread`` is the statistic
over resamples of the pools (5th, 50th and 95th percentiles): how far other pools could move it.
``mask_ap_by_condition`` splits the val set into night, branded day and plain day frames.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ml.active.ranking import (
    DEFAULT_ALPHA,
    DEFAULT_COLD_START,
    DEFAULT_CONTENT_POWER,
    DEFAULT_DENSITY,
    diverse_order,
)
from ml.universal.coco_eval import CocoMaskEvaluator
from ml.universal.evaluate import predictions
from ml.universal.finetune import FINE_TUNE_LR, FINE_TUNE_MIN_STEPS

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_BASE = ROOT / "ml" / "checkpoints" / "universal_base.pt"
DEFAULT_PLOT = ROOT / "docs" / "active_learning.png"
DOMAIN_ORDER = ("conveyor_topdown", "tote_oblique", "floor_pile", "pallet_stack")
STRIP = 1.5  # a capture's strip of belt or floor, in frame widths
STRATEGIES = ("random", "uncertainty+diversity")
CONDITIONS = (
    "night",
    "branded",
)  # per-capture flags of site_scenes; the report gives each one's share of the labels
TARGET = 0.40  # the label_savings target
CONDITION_GROUPS = (
    "night",
    "branded_day",
    "plain_day",
)  # the val set's parts in the report (condition_group)


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


# --------------------------------------------------------------------------- the new site's data


def night_shift(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dim, blue-cast, noisy version of an RGB uint8 image (lighting the base never saw)."""
    x = image.astype(np.float32) / 255.0
    x = x**1.6 * rng.uniform(0.35, 0.5)
    x = x * np.array([0.55, 0.75, 1.25], dtype=np.float32)
    x = x + rng.normal(0.0, 0.03, size=x.shape).astype(np.float32)
    return (np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)


BRANDED_KINDS = ("padded_mailer", "plastic_bag", "envelope")
BRANDED_DARK, BRANDED_LIGHT = (150.0, 30.0, 90.0), (250.0, 120.0, 190.0)  # RGB at black and at white


def branded(scene, rng: np.random.Generator):
    """``scene`` with its mailers, bags and envelopes in one customer's pink branding (a parcel look the
    base never saw; it reads them as background: on 64 such scenes its mask AP is 0.13 against 0.41).
    Each pixel keeps its brightness, so shading, bubbles and labels stay; the hue varies per capture."""
    img = scene.image.astype(np.float32)
    brightness = img.mean(axis=2, keepdims=True) / 255.0
    shift = rng.uniform(-20.0, 20.0, size=3)
    dark, light = np.asarray(BRANDED_DARK) + shift, np.asarray(BRANDED_LIGHT) + shift
    recoloured = dark + brightness * (light - dark)
    owners = [i + 1 for i, inst in enumerate(scene.instances) if inst.category in BRANDED_KINDS]
    where = np.isin(scene.labels, owners)
    img[where] = recoloured[where]
    scene.image = np.clip(img, 0, 255).astype(np.uint8)
    return scene


def frame_jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The frame-to-frame change of one camera: exposure within +-8 % and fresh sensor noise."""
    x = image.astype(np.float32) * rng.uniform(0.92, 1.08)
    x = x + rng.normal(0.0, 2.0, size=x.shape).astype(np.float32)
    return np.clip(x, 0, 255).astype(np.uint8)


def site_scenes(
    count: int, seed: int, size: int, night_share: float, frames: int = 1, branded_share: float = 0.0
) -> list[dict[str, Any]]:
    """``count`` images of the new site: image, COCO annotations (image id = index + 1), condition, capture.

    A site's images come from its cameras: each *capture* renders a strip of belt or floor
    ``STRIP`` times as wide as a frame, and its ``frames`` images are windows sliding along it
    (the belt moved between shots), each with its own exposure and noise. Frames of one capture
    share the domain and the lighting (a share ``night_share`` of the captures is at night). A share
    ``branded_share`` of the captures, drawn independently, holds one customer's branded parcels
    (``branded``).
    ``frames=1`` gives independent images: one window at a random place per capture.
    """
    from ml.synth import CATEGORIES, DOMAINS, crop_scene, generate_scene
    from ml.synth.dataset import scene_annotations

    if frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    rng = np.random.default_rng(seed)
    captures = -(-count // frames)
    night = set(rng.choice(captures, size=round(night_share * captures), replace=False).tolist())
    brand_rng = np.random.default_rng([seed, 1])  # its own stream: pools without branding stay as they were
    brandable = {
        d for d in DOMAIN_ORDER if any(DOMAINS[d].weights[CATEGORIES.index(k)] for k in BRANDED_KINDS)
    }
    mailing = [
        c for c in range(captures) if DOMAIN_ORDER[c % len(DOMAIN_ORDER)] in brandable
    ]  # not boxes-only
    brand = set(
        brand_rng.choice(
            mailing, size=min(len(mailing), round(branded_share * captures)), replace=False
        ).tolist()
    )
    strip = round(size * STRIP)
    scenes: list[dict[str, Any]] = []
    for c in range(captures):
        scene = generate_scene(DOMAIN_ORDER[c % len(DOMAIN_ORDER)], seed * 100_003 + c, (size, strip))
        scene = branded(scene, brand_rng) if c in brand else scene
        lefts = np.linspace(0, strip - size, frames) if frames > 1 else [rng.integers(0, strip - size + 1)]
        for left in lefts[: count - len(scenes)]:
            frame = crop_scene(scene, 0, int(round(left)), (size, size))
            image = frame_jitter(frame.image, rng)
            image = night_shift(image, rng) if c in night else image
            i = len(scenes)
            scenes.append(
                {
                    "id": i + 1,
                    "image": image,
                    "domain": scene.domain,
                    "night": c in night,
                    "branded": c in brand,
                    "capture": c,
                    "annotations": scene_annotations(frame, i + 1, 1),
                }
            )
    return scenes


def write_coco(scenes: list[dict[str, Any]], folder: Path, name: str) -> Path:
    """``folder/name`` (COCO) over ``scenes``, images under ``folder/images`` (written once). Each image
    entry keeps the scene's ``CONDITIONS`` flags (extra COCO fields; pycocotools ignores them)."""
    from ml.synth.dataset import coco_categories

    (folder / "images").mkdir(parents=True, exist_ok=True)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for s in scenes:
        file_name = f"images/{s['id']:05d}.png"
        if not (folder / file_name).exists():
            cv2.imwrite(str(folder / file_name), cv2.cvtColor(s["image"], cv2.COLOR_RGB2BGR))
        h, w = s["image"].shape[:2]
        images.append(
            {
                "id": s["id"],
                "file_name": file_name,
                "height": h,
                "width": w,
                **{c: bool(s[c]) for c in CONDITIONS if c in s},
            }
        )
        for ann in s["annotations"]:
            annotations.append({**ann, "id": len(annotations) + 1})
    path = folder / name
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": coco_categories()})
    )
    return path


# --------------------------------------------------------------------------- model calls


def site_base(base_checkpoint: Path, input_size: int, out: Path) -> Path:
    """The shipped base, set to see images at the site's resolution (same weights)."""
    from ml.universal.checkpoint import load_checkpoint, save_checkpoint

    model, meta = load_checkpoint(base_checkpoint)
    return save_checkpoint(out, model, {**meta, "input_size": int(input_size)})


def fine_tune(
    base: Path, train: Path, val: Path, out: Path, cfg: SimConfig, seed: int, labels: int
) -> dict[str, Any]:
    """Fine-tune ``base`` on ``train`` for ``fine_tune_steps`` steps (or ``cfg.epochs`` epochs); val metrics plus the checkpoint.

    The product's own fine-tuning (``ml.universal.finetune.fine_tune``: its learning rate,
    frozen BatchNorm, loop, augmentation and schedule), only with a fixed number of epochs
    (at least ``cfg.min_steps`` steps) where the app has a time budget.
    """
    from ml.universal.finetune import fine_tune as product_fine_tune

    return product_fine_tune(
        base,
        train,
        val,
        out,
        budget_seconds=cfg.budget_seconds,
        epochs=cfg.epochs,
        steps=fine_tune_steps(cfg, labels) or None,
        min_steps=cfg.min_steps,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        seed=seed,
        threads=cfg.threads,
        precision=cfg.precision,
        rehearsal=round(cfg.rehearsal * labels),
    )


def fine_tune_steps(cfg: SimConfig, labels: int) -> int:
    """Optimizer steps of a fine-tune on ``labels`` images (0: ``cfg.epochs`` epochs decide)."""
    if not cfg.steps:
        return 0
    return max(cfg.steps, round(cfg.steps_per_label * labels))


def evaluate(checkpoint: Path, val: Path) -> float:
    """Mask AP of ``checkpoint`` on the val set."""
    return float(predictions(checkpoint, val).summarize()["mask_ap"])


def condition_group(image: dict[str, Any]) -> str:
    """The part of the val set an image (a scene, or its COCO entry from ``write_coco``) belongs to: night
    frames, branded or not; branded day frames; plain day frames."""
    return "night" if image["night"] else "branded_day" if image["branded"] else "plain_day"


def mask_ap_by_condition(evaluator: CocoMaskEvaluator, val: Path) -> dict[str, float]:
    """Mask AP on each part of the val set (``condition_group``), from the predictions ``evaluator`` collected
    over it (``ml.universal.evaluate.predictions``): no second pass."""
    images = json.loads(Path(val).read_text())["images"]
    return {
        group: float(
            evaluator.summarize([img["id"] for img in images if condition_group(img) == group])["mask_ap"]
        )
        for group in CONDITION_GROUPS
    }


def score_pool(checkpoint: Path, scenes: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uncertainty (N,), features (N, D), predicted instance count (N,)) of the model on the scenes."""
    from ml.universal.predictor import UniversalPredictor

    predictor = UniversalPredictor.from_checkpoint(checkpoint)
    results = [predictor.predict(s["image"]) for s in scenes]
    return (
        np.array([r.uncertainty for r in results], dtype=np.float64),
        np.stack([np.asarray(r.features, dtype=np.float64) for r in results]),
        np.array([len(r.instances) for r in results], dtype=np.float64),
    )


# --------------------------------------------------------------------------- the loop


def run_strategy(
    strategy: str,
    pool: list[dict[str, Any]],
    workdir: Path,
    base: Path,
    val: Path,
    base_ap: float,
    base_ap50: float,
    cfg: SimConfig,
    seed: int,
    log,
) -> dict[str, Any]:
    rng = np.random.default_rng(seed + 1)
    labelled: list[int] = []  # indices into pool
    model = base
    curve = [{"labels": 0, "mask_ap": base_ap, "mask_ap50": base_ap50}]
    picked = dict.fromkeys(CONDITIONS, 0)  # labelled images per condition
    for round_no in range(1, cfg.rounds + 1):
        unlabelled = [i for i in range(len(pool)) if i not in set(labelled)]
        if strategy == "random":
            picks = rng.choice(unlabelled, size=cfg.batch, replace=False).tolist()
        else:
            uncertainty, features, counts = score_pool(model, pool)
            order = diverse_order(
                uncertainty[unlabelled],
                features[unlabelled],
                alpha=cfg.alpha,
                limit=cfg.batch,
                labelled=features[labelled],
                cold_start=cfg.cold_start,
                near_duplicates=cfg.near_duplicates,
                density=cfg.density,
                content=counts[unlabelled],
                content_power=cfg.content_power,
            )
            picks = [unlabelled[k] for k in order]
        labelled += picks
        for condition in CONDITIONS:
            picked[condition] += sum(pool[i][condition] for i in picks)
        train = write_coco([pool[i] for i in labelled], workdir, f"{strategy}_r{round_no}.json")
        out = workdir / f"{strategy}_r{round_no}.pt"
        start = time.perf_counter()
        result = fine_tune(base, train, val, out, cfg, seed, len(labelled))
        ap = float(result["mask_ap"]) if "mask_ap" in result else evaluate(out, val)
        curve.append(
            {
                "labels": len(labelled),
                "mask_ap": round(ap, 4),
                "mask_ap50": round(float(result.get("mask_ap50", float("nan"))), 4),
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
        log(f"seed {seed} {strategy:>22} round {round_no}: {len(labelled):3d} labels  mask AP {ap:.4f}")
        if model != base:
            Path(model).unlink(missing_ok=True)
        model = out
    return {
        "curve": curve,
        "captures_labelled": len({pool[i]["capture"] for i in labelled}),
        "mask_ap_by_condition": mask_ap_by_condition(predictions(model, val), val),  # after the last round
        **{f"{c}_share_labelled": round(n / max(len(labelled), 1), 3) for c, n in picked.items()},
    }


def _run_job(
    job: tuple[str, list[dict[str, Any]], Path, Path, Path, float, float, SimConfig, int],
) -> dict[str, Any]:
    """One strategy's loop on one pool, in a worker process (logs go to stderr)."""
    import torch

    torch.set_num_threads(job[7].threads)
    return run_strategy(*job, log=lambda msg: print(msg, file=sys.stderr, flush=True))


def mean_curve(curves: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Point-wise mean of curves that share their label counts."""
    return [
        {
            "labels": points[0]["labels"],
            "mask_ap": round(float(np.mean([p["mask_ap"] for p in points])), 4),
            "mask_ap50": round(float(np.mean([p["mask_ap50"] for p in points])), 4),
        }
        for points in zip(*curves, strict=True)
    ]


def label_savings(random_curve: list[dict], active_curve: list[dict]) -> tuple[float, float | None]:
    """(savings, labels the active strategy needed) to reach random's final AP; see the module doc."""
    target, n_random = random_curve[-1]["mask_ap"], random_curve[-1]["labels"]
    if target <= random_curve[0]["mask_ap"]:  # labels did not help random at all: nothing to save
        return 0.0, None
    for prev, cur in zip(active_curve, active_curve[1:], strict=False):
        if cur["mask_ap"] >= target:
            gain = cur["mask_ap"] - prev["mask_ap"]
            frac = 1.0 if gain <= 0 else (target - prev["mask_ap"]) / gain
            needed = prev["labels"] + max(0.0, min(1.0, frac)) * (cur["labels"] - prev["labels"])
            return round(1.0 - needed / n_random, 4), round(needed, 1)
    return 0.0, None


def paired_gain(random_curves: list[list[dict]], active_curves: list[list[dict]]) -> dict[str, float | None]:
    """The active strategy's lead in mask AP over random on the same pools: each pool's mean over the
    labelled rounds of (active - random), then their mean and its standard error over the pools.
    Steadier than ``label_savings``, which swings where random's curve is flat."""
    per_pool = [
        float(np.mean([a["mask_ap"] - r["mask_ap"] for r, a in zip(rc[1:], ac[1:], strict=True)]))
        for rc, ac in zip(random_curves, active_curves, strict=True)
    ]
    error = round(float(np.std(per_pool, ddof=1) / np.sqrt(len(per_pool))), 4) if len(per_pool) > 1 else None
    return {"mean": round(float(np.mean(per_pool)), 4), "standard_error": error}  # no error from one pool


def label_savings_spread(
    random_curves: list[list[dict]],
    active_curves: list[list[dict]],
    *,
    target: float,
    draws: int = 2000,
    seed: int = 0,
) -> dict[str, float]:
    """How far ``label_savings`` could move with other pools: the statistic over ``draws`` resamples of the
    pools (with replacement, each pool's two curves kept together), as its 5th, 50th and 95th percentiles
    and the share of resamples at or above ``target``."""
    rng = np.random.default_rng(seed)
    n = len(random_curves)
    values = []
    for _ in range(draws):
        pick = rng.integers(0, n, n)
        values.append(
            label_savings(
                mean_curve([random_curves[i] for i in pick]), mean_curve([active_curves[i] for i in pick])
            )[0]
        )
    p05, p50, p95 = (round(float(v), 4) for v in np.percentile(values, [5, 50, 95]))
    return {
        "p05": p05,
        "median": p50,
        "p95": p95,
        "share_at_target": round(float(np.mean(np.array(values) >= target)), 3),
    }


def simulate(
    cfg: SimConfig,
    base_checkpoint: Path,
    plot: Path | None,
    workdir: Path | None = None,
    log=lambda msg: print(msg, file=sys.stderr, flush=True),
) -> dict[str, Any]:
    import torch

    torch.set_num_threads(cfg.threads)
    started = time.perf_counter()
    own_dir = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="al-sim-")) if workdir is None else workdir
    try:
        val_scenes = site_scenes(cfg.val, cfg.seed + 1, cfg.scene_size, cfg.night_share, 1, cfg.branded_share)
        val = write_coco(val_scenes, workdir / "val", "val.json")
        base = site_base(base_checkpoint, cfg.scene_size, workdir / "base.pt")
        base_predictions = predictions(base, val)  # one pass: the whole val set and its parts
        base_metrics = base_predictions.summarize()
        base_ap = round(float(base_metrics["mask_ap"]), 4)
        log(f"base mask AP on the new site's val set: {base_ap:.4f}")
        base_ap50 = round(float(base_metrics["mask_ap50"]), 4)
        base_by_condition = mask_ap_by_condition(base_predictions, val)
        jobs = []
        for repeat in range(cfg.repeats):
            seed = cfg.seed + 1000 * repeat
            pool = site_scenes(cfg.pool, seed, cfg.scene_size, cfg.night_share, cfg.frames, cfg.branded_share)
            folder = workdir / f"pool{repeat}"
            write_coco(pool, folder, "pool.json")  # every image on disk before the loops share the folder
            jobs += [(s, pool, folder, base, val, base_ap, base_ap50, cfg, seed) for s in STRATEGIES]
        runs: dict[str, list[dict[str, Any]]] = {s: [] for s in STRATEGIES}
        if cfg.workers > 1:
            context = multiprocessing.get_context("spawn")  # no forking a process that already ran torch
            with ProcessPoolExecutor(min(cfg.workers, len(jobs)), mp_context=context) as executor:
                done = list(executor.map(_run_job, jobs))
        else:
            done = [_run_job(job) for job in jobs]
        for job, result in zip(jobs, done, strict=True):
            runs[job[0]].append(result)
    finally:
        if own_dir:
            shutil.rmtree(workdir, ignore_errors=True)
    shares = [f"{c}_share_labelled" for c in CONDITIONS]
    results: dict[str, dict[str, Any]] = {
        s: {
            "curve": mean_curve([r["curve"] for r in runs[s]]),
            **{k: round(float(np.mean([r[k] for r in runs[s]])), 3) for k in shares},
            "captures_labelled": round(float(np.mean([r["captures_labelled"] for r in runs[s]])), 1),
        }
        for s in STRATEGIES
    }
    savings, needed = label_savings(results["random"]["curve"], results["uncertainty+diversity"]["curve"])
    as_ap50 = [
        [{"labels": p["labels"], "mask_ap": p["mask_ap50"]} for p in results[s]["curve"]] for s in STRATEGIES
    ]
    report = {
        "label_savings": savings,
        "active_labels_to_match_random": needed,
        "label_savings_at_ap50": label_savings(*as_ap50)[0],
        # the spread: each pool's own active curve against its own random curve
        "label_savings_per_repeat": [
            label_savings(r["curve"], a["curve"])[0]
            for r, a in zip(runs["random"], runs["uncertainty+diversity"], strict=True)
        ],
        "paired_gain": paired_gain(
            [r["curve"] for r in runs["random"]], [a["curve"] for a in runs["uncertainty+diversity"]]
        ),
        # a single run's figure swings with its pools: one pool moves it by ~0.08 (docs/active_learning.md)
        "label_savings_spread": label_savings_spread(
            [r["curve"] for r in runs["random"]],
            [a["curve"] for a in runs["uncertainty+diversity"]],
            target=TARGET,
        ),
        "random_final": results["random"]["curve"][-1],
        "target": TARGET,
        "curves": {s: r["curve"] for s, r in results.items()},
        "curves_per_repeat": {s: [r["curve"] for r in runs[s]] for s in STRATEGIES},
        **{k: {s: r[k] for s, r in results.items()} for k in shares},
        # distinct captures among the final labels (of pool / frames): near-duplicate frames add little
        "captures_labelled": {s: r["captures_labelled"] for s, r in results.items()},
        # where the AP comes from: the val set's night, branded day and plain day frames, before any label and
        # after the last round (mean over the pools)
        "mask_ap_by_condition": {
            "base": {k: round(v, 4) for k, v in base_by_condition.items()},
            **{
                s: {
                    k: round(float(np.mean([r["mask_ap_by_condition"][k] for r in runs[s]])), 4)
                    for k in CONDITION_GROUPS
                }
                for s in STRATEGIES
            },
        },
        "val_images_by_condition": {
            g: sum(condition_group(s) == g for s in val_scenes) for g in CONDITION_GROUPS
        },
        "base_mask_ap": base_ap,
        "config": asdict(cfg),
        "setup": (
            "new site: the four synthetic domains rendered and seen at scene_size px (the base saw "
            "384 px), night_share of captures under night lighting the base never saw, branded_share "
            "of captures with one customer's pink mailers, bags and envelopes (a look it never saw), `frames` "
            "consecutive frames per capture in the pool (one in the val set); oracle labels; "
            "fine-tuned from the shipped base every round for `steps` steps (0: `epochs` epochs, at "
            "least min_steps steps); curves are "
            "the mean over `repeats` pools/seeds on one fixed val set"
        ),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "load_average": [
            round(x, 2) for x in os.getloadavg()
        ],  # 1, 5, 15 min, at the end: other jobs slow it
    }
    if plot is not None:
        report["plot"] = str(draw_plot(report, plot))
    return report


# --------------------------------------------------------------------------- the plot


def draw_plot(report: dict[str, Any], path: Path, width: int = 720, height: int = 440) -> Path:
    """Mask AP against labels for both strategies (OpenCV drawing; no plotting library needed)."""
    img = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 70, 24, 50, 60
    curves = report["curves"]
    xs = [p["labels"] for c in curves.values() for p in c]
    ys = [p["mask_ap"] for c in curves.values() for p in c]
    x_max = max(xs) or 1
    y_lo, y_hi = min(ys), max(ys)
    pad = max(0.01, 0.1 * (y_hi - y_lo))
    y_lo, y_hi = max(0.0, y_lo - pad), y_hi + pad

    def pt(x: float, y: float) -> tuple[int, int]:
        return (
            int(left + (width - left - right) * x / x_max),
            int(height - bottom - (height - top - bottom) * (y - y_lo) / (y_hi - y_lo)),
        )

    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.line(img, pt(0, y_lo), pt(x_max, y_lo), (0, 0, 0), 1)
    cv2.line(img, pt(0, y_lo), pt(0, y_hi), (0, 0, 0), 1)
    for k in range(5):
        y = y_lo + (y_hi - y_lo) * k / 4
        cv2.putText(img, f"{y:.3f}", (8, pt(0, y)[1] + 4), font, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
        cv2.line(img, pt(0, y), pt(x_max, y), (230, 230, 230), 1)
    for p in next(iter(curves.values())):
        x, _ = pt(p["labels"], y_lo)
        cv2.putText(
            img, str(p["labels"]), (x - 8, height - bottom + 18), font, 0.4, (60, 60, 60), 1, cv2.LINE_AA
        )
    colours = {"random": (80, 80, 200), "uncertainty+diversity": (40, 150, 40)}  # BGR
    for name, curve in curves.items():
        points = [pt(p["labels"], p["mask_ap"]) for p in curve]
        for a, b in zip(points, points[1:], strict=False):
            cv2.line(img, a, b, colours.get(name, (0, 0, 0)), 2, cv2.LINE_AA)
        for p in points:
            cv2.circle(img, p, 4, colours.get(name, (0, 0, 0)), -1, cv2.LINE_AA)
    target = report["random_final"]["mask_ap"]
    cv2.line(img, pt(0, target), pt(x_max, target), (150, 150, 150), 1, cv2.LINE_4)
    cv2.putText(img, "labelled images", (width // 2 - 50, height - 18), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "val mask AP", (8, 30), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    title = f"active learning on synthetic data: label_savings = {report['label_savings']:.2f}"
    cv2.putText(img, title, (left + 60, 30), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    for k, (name, colour) in enumerate(colours.items()):
        y = height - bottom - 14 - 18 * (len(colours) - 1 - k)  # lower right: rising curves end high there
        cv2.line(img, (width - 230, y - 4), (width - 205, y - 4), colour, 2)
        cv2.putText(img, name, (width - 198, y), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return path


def _yes_no(text: str) -> bool:
    if text.lower() not in ("yes", "no", "true", "false", "1", "0"):
        raise argparse.ArgumentTypeError(f"expected yes or no, got {text!r}")
    return text.lower() in ("yes", "true", "1")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Simulate active learning vs random sampling on synthetic data."
    )
    parser.add_argument("--quick", action="store_true", help="a smaller run, <= 10 min on 2 CPU cores")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--base", default=str(DEFAULT_BASE), help="the base checkpoint to fine-tune from")
    parser.add_argument("--plot", default=str(DEFAULT_PLOT), help="PNG to write ('' for none)")
    parser.add_argument("--workdir", default=None, help="keep datasets and checkpoints here")
    for name, value in asdict(SimConfig()).items():
        kind = _yes_no if isinstance(value, bool) else type(value)
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None)
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else SimConfig()
    overrides = {k: v for k, v in vars(args).items() if k in asdict(cfg) and v is not None}
    cfg = SimConfig(**{**asdict(cfg), **overrides})
    report = simulate(
        cfg,
        Path(args.base),
        Path(args.plot) if args.plot else None,
        Path(args.workdir) if args.workdir else None,
    )
    if args.json:
        print(json.dumps(report))
    else:
        print(f"label_savings: {report['label_savings']}  (plot: {report.get('plot')})")


if __name__ == "__main__":
    main()

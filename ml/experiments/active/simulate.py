"""The active-learning loop on synthetic data with an oracle annotator: random vs uncertainty+diversity.

    python -m ml.experiments.active.simulate --json            # the full run
    python -m ml.experiments.active.simulate --json --quick    # <= 10 min on 2 CPU cores
    python -m ml.experiments.active.simulate --json --real /work/data/public_boxes --base BASE.pt  # real photos

With ``--real`` the pool is site W's real frames, labelled with their boxes and scored with box AP50
(:mod:`ml.experiments.active.real`); what follows is the synthetic simulation.

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
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ml.experiments.active.config import QUICK, REAL, REAL_TINY, STRATEGIES, TARGET, SimConfig
from ml.experiments.active.curves import label_savings, mean_curve, savings_figures
from ml.experiments.active.plot import draw_plot
from ml.experiments.active.rounds import SyntheticSite, mask_ap_by_condition, run_jobs, site_base
from ml.experiments.active.site import CONDITION_GROUPS, CONDITIONS, condition_group, site_scenes, write_coco
from ml.universal.evaluate import predictions

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_BASE = ROOT / "ml" / "checkpoints" / "universal_base.pt"
DEFAULT_PLOT = ROOT / "docs" / "active_learning.png"
REAL_PLOT = ROOT / "docs" / "active_learning_real.png"


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
            start = {"mask_ap": base_ap, "mask_ap50": base_ap50}
            jobs += [(s, pool, folder, base, SyntheticSite(val), start, cfg, seed) for s in STRATEGIES]
        runs: dict[str, list[dict[str, Any]]] = {s: [] for s in STRATEGIES}
        for job, result in zip(jobs, run_jobs(jobs, cfg.workers), strict=True):
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
    random_curves = [r["curve"] for r in runs["random"]]
    active_curves = [a["curve"] for a in runs["uncertainty+diversity"]]
    report = {
        **savings_figures(random_curves, active_curves, target=TARGET),
        "label_savings_at_ap50": label_savings(
            results["random"]["curve"], results["uncertainty+diversity"]["curve"], "mask_ap50"
        )[0],
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


def _yes_no(text: str) -> bool:
    if text.lower() not in ("yes", "no", "true", "false", "1", "0"):
        raise argparse.ArgumentTypeError(f"expected yes or no, got {text!r}")
    return text.lower() in ("yes", "true", "1")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Simulate active learning vs random sampling on synthetic data (or real photos: --real)."
    )
    parser.add_argument("--quick", action="store_true", help="a smaller run, <= 10 min on 2 CPU cores")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument(
        "--base", default=None, help=f"the base checkpoint to fine-tune from (default {DEFAULT_BASE.name})"
    )
    parser.add_argument(
        "--plot",
        default=None,
        help=f"PNG to write ('' for none; default {DEFAULT_PLOT.name}, real: {REAL_PLOT.name})",
    )
    parser.add_argument("--workdir", default=None, help="keep datasets and checkpoints here")
    parser.add_argument("--real", default=None, help="site W's frames from build_public_boxes.py's folder")
    parser.add_argument("--tiny", action="store_true", help="with --real: a few frames and steps (no plot)")
    for name, value in asdict(SimConfig()).items():
        kind = _yes_no if isinstance(value, bool) else type(value)
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None)
    args = parser.parse_args(argv)
    if args.real and not args.base:
        parser.error("--real needs --base: a base that never saw site W (the shipped base saw all of it)")
    if args.tiny and not args.real:
        parser.error("--tiny needs --real")
    cfg = (REAL_TINY if args.tiny else REAL) if args.real else QUICK if args.quick else SimConfig()
    overrides = {k: v for k, v in vars(args).items() if k in asdict(cfg) and v is not None}
    cfg = SimConfig(**{**asdict(cfg), **overrides})
    base = Path(args.base or DEFAULT_BASE)
    workdir = Path(args.workdir) if args.workdir else None
    if args.real:
        from ml.experiments.active.real import simulate_real

        plot = args.plot if args.plot is not None else ("" if args.tiny else str(REAL_PLOT))
        work = workdir or Path(tempfile.mkdtemp(prefix="al-real-"))
        try:
            report = simulate_real(
                cfg,
                Path(args.real),
                base,
                Path(plot) if plot else None,
                work,
                lambda m: print(m, file=sys.stderr),
            )
        finally:
            if workdir is None:
                shutil.rmtree(work, ignore_errors=True)
    else:
        plot = args.plot if args.plot is not None else str(DEFAULT_PLOT)
        report = simulate(cfg, base, Path(plot) if plot else None, workdir)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"label_savings: {report['label_savings']}  (plot: {report.get('plot')})")


if __name__ == "__main__":
    main()

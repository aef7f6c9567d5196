"""The active-learning simulation on real photos: site W's pool frames, its val frames, box labels, box AP50.

    python -m ml.experiments.active.simulate --real /work/data/public_boxes --base BASE.pt --json
    python -m ml.experiments.active.simulate --real /work/data/public_boxes --base BASE.pt --tiny --json

Pure ``ml``. Site W is the warehouse of ``ml.experiments.fewshot.sites`` (five phone videos of its racking):
the pool is the frames of its pool videos, cut in frame order into *captures* of ``frames`` consecutive frames
(neighbouring frames of a video are near-duplicates, as the synthetic captures' frames are); each repeat's pool
is ``pool`` frames of randomly drawn captures (all of them when ``pool`` covers the pool videos). The val set
is ``val`` frames spread over W's val video (``W_VAL_VIDEO``); W's test videos are not used. The oracle's
labels are the real boxes; each round fine-tunes ``--base`` (it should be a base that never saw W: the shipped
eighth base trained on every W video) on all labels so far with the product's recipe on boxes
(``BoxDataset``), seen at ``scene_size`` px (the long side), and scores class-agnostic box AP50 on the val
frames. ``label_savings``, its spread and the paired gain are the synthetic simulation's, on box AP50.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ml.experiments.active.config import STRATEGIES, TARGET, SimConfig
from ml.experiments.active.curves import mean_curve, savings_figures
from ml.experiments.active.plot import draw_plot
from ml.experiments.active.rounds import fine_tune, run_jobs, site_base
from ml.experiments.fewshot.sites import evenly_spaced, video_of, write_coco, write_site_splits
from ml.universal.box_eval import box_ap50
from ml.universal.data import load_coco
from ml.universal.eval_data import read_image

KEY = "box_ap50"


class RealSite:
    """Site W's frames (COCO entries, file names relative to ``data``), labelled with their real boxes."""

    def __init__(self, data: Path, val: Path, annotations: list[dict[str, Any]], categories: list[dict]):
        self.data, self.val = data, val
        self.annotations, self.categories = annotations, categories

    def image(self, item: dict[str, Any]) -> np.ndarray:
        return read_image(self.data / item["file_name"])

    def write_labels(self, items: list[dict[str, Any]], folder: Path, name: str) -> Path:
        entries = [{k: v for k, v in item.items() if k != "capture"} for item in items]
        return write_coco(folder / name, entries, self.annotations, self.categories)

    def train_and_score(
        self, base: Path, train: Path, out: Path, cfg: SimConfig, seed: int, labels: int
    ) -> dict[str, float]:
        source_map = self.data / "source_map.csv"
        fine_tune(
            base, train, None, out, cfg, seed, labels, images_dir=self.data, boxes_source_map=source_map
        )
        return {KEY: round(box_ap50(out, self.val, self.data), 4)}

    def final(self, model: Path) -> dict[str, Any]:
        return {}


def captures(frames: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    """The frames (in video and frame order) cut into runs of ``size`` consecutive frames of one video."""
    runs: list[list[dict[str, Any]]] = []
    for k, frame in enumerate(frames):
        if k == 0 or len(runs[-1]) == size or video_of(frame["series"]) != video_of(frames[k - 1]["series"]):
            runs.append([])
        runs[-1].append(frame)
    return runs


def draw_pool(runs: list[list[dict[str, Any]]], count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` frames of randomly drawn captures (in pool order), each frame tagged with its ``capture``;
    the last drawn capture may be cut short."""
    order = np.random.default_rng(seed).permutation(len(runs)).tolist()
    picked: list[int] = []
    while order and sum(len(runs[c]) for c in picked) < count:
        picked.append(order.pop(0))
    pool = [{**frame, "capture": c} for c in sorted(picked) for frame in runs[c]]
    return pool[:count]


def simulate_real(
    cfg: SimConfig, data: Path, base_checkpoint: Path, plot: Path | None, workdir: Path, log
) -> dict[str, Any]:
    """The real-pool simulation (module doc) in ``workdir``; the report's curves are box AP50."""
    import torch

    torch.set_num_threads(cfg.threads)
    started = time.perf_counter()
    splits = workdir / "splits"
    counts = write_site_splits(data, splits, pool_sizes=(), val_every=1)
    pool_coco, val_coco = load_coco(splits / "w_all.json"), load_coco(splits / "w_val.json")
    val = write_coco(
        splits / "al_val.json",
        evenly_spaced(val_coco["images"], cfg.val),
        val_coco["annotations"],
        val_coco["categories"],
    )
    site = RealSite(data, val, pool_coco["annotations"], pool_coco["categories"])
    runs_of_frames = captures(pool_coco["images"], cfg.frames)
    base = site_base(base_checkpoint, cfg.scene_size, workdir / "base.pt")
    base_ap = round(box_ap50(base, val, data), 4)
    log(f"base box AP50 on site W's val frames: {base_ap:.4f}")
    jobs = []
    for repeat in range(cfg.repeats):
        seed = cfg.seed + 1000 * repeat
        pool = draw_pool(runs_of_frames, cfg.pool, seed)
        folder = workdir / f"pool{repeat}"
        folder.mkdir(parents=True, exist_ok=True)
        jobs += [(s, pool, folder, base, site, {KEY: base_ap}, cfg, seed) for s in STRATEGIES]
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in STRATEGIES}
    for job, result in zip(jobs, run_jobs(jobs, cfg.workers), strict=True):
        runs[job[0]].append(result)
    random_curves = [r["curve"] for r in runs["random"]]
    active_curves = [a["curve"] for a in runs["uncertainty+diversity"]]
    curves = {s: mean_curve([r["curve"] for r in runs[s]], (KEY,)) for s in STRATEGIES}
    report: dict[str, Any] = {
        "mode": "real",
        "metric": KEY,
        **savings_figures(random_curves, active_curves, target=TARGET, key=KEY),
        "random_final": curves["random"][-1],
        "target": TARGET,
        "curves": curves,
        "curves_per_repeat": {s: [r["curve"] for r in runs[s]] for s in STRATEGIES},
        # distinct captures (runs of `frames` consecutive frames) among the final labels
        "captures_labelled": {
            s: round(float(np.mean([r["captures_labelled"] for r in runs[s]])), 1) for s in STRATEGIES
        },
        "base_box_ap50": base_ap,
        "splits": {
            "pool_frames": counts["w_pool"],
            "pool_videos": counts["pool_videos"],
            "pool_captures": len(runs_of_frames),
            "val_video": counts["w_val_video"],
            "val_frames": len(load_coco(val)["images"]),
        },
        "config": asdict(cfg),
        "setup": (
            "real site W: pool = `pool` frames of random captures (runs of `frames` consecutive frames) of its pool "
            "videos, val = `val` frames of its val video; oracle = the real boxes; fine-tuned on boxes from the "
            "base every round, seen at scene_size px; class-agnostic box AP50; curves are the mean over `repeats` "
            "pools/seeds"
        ),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    if plot is not None:
        report["plot"] = str(draw_plot(report, plot))
    return report

"""One strategy's rounds on one pool: pick images (random, or the queue's ``diverse_order`` over the latest
model's scores), fine-tune the base on all labels so far with the product's recipe, score on the val set.

What a pool item is, how labels are written, trained and scored is the *site*'s: ``SyntheticSite`` (rendered
scenes, masks, mask AP) here, ``ml.experiments.active.real.RealSite`` (site W's frames, boxes, box AP50)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ml.active.ranking import diverse_order
from ml.experiments.active.config import SimConfig
from ml.experiments.active.site import CONDITION_GROUPS, CONDITIONS, condition_group, write_coco
from ml.universal.coco_eval import CocoMaskEvaluator
from ml.universal.evaluate import predictions


def site_base(base_checkpoint: Path, input_size: int, out: Path) -> Path:
    """The shipped base, set to see images at the site's resolution (same weights)."""
    from ml.universal.checkpoint import load_checkpoint, save_checkpoint

    model, meta = load_checkpoint(base_checkpoint)
    return save_checkpoint(out, model, {**meta, "input_size": int(input_size)})


def fine_tune(
    base: Path,
    train: Path,
    val: Path | None,
    out: Path,
    cfg: SimConfig,
    seed: int,
    labels: int,
    *,
    images_dir: Path | None = None,
    boxes_source_map: Path | None = None,
) -> dict[str, Any]:
    """Fine-tune ``base`` on ``train`` for ``fine_tune_steps`` steps (or ``cfg.epochs`` epochs); val metrics plus the checkpoint.

    The product's own fine-tuning (``ml.universal.finetune.fine_tune``: its learning rate,
    frozen BatchNorm, loop, augmentation and schedule), only with a fixed number of epochs
    (at least ``cfg.min_steps`` steps) where the app has a time budget. ``images_dir`` and
    ``boxes_source_map`` are the product's (real photos labelled with boxes).
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
        images_dir=images_dir,
        boxes_source_map=boxes_source_map,
        device=cfg.device,
    )


def fine_tune_steps(cfg: SimConfig, labels: int) -> int:
    """Optimizer steps of a fine-tune on ``labels`` images (0: ``cfg.epochs`` epochs decide)."""
    if not cfg.steps:
        return 0
    return max(cfg.steps, round(cfg.steps_per_label * labels))


def evaluate(checkpoint: Path, val: Path) -> float:
    """Mask AP of ``checkpoint`` on the val set."""
    return float(predictions(checkpoint, val).summarize()["mask_ap"])


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


def score_pool(
    checkpoint: Path,
    scenes: list[dict[str, Any]],
    image: Callable[[dict[str, Any]], np.ndarray] = lambda scene: scene["image"],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uncertainty (N,), features (N, D), predicted instance count (N,)) of the model on the scenes
    (``image``: a scene's RGB image)."""
    from ml.universal.predictor import UniversalPredictor

    predictor = UniversalPredictor.from_checkpoint(checkpoint)
    results = [predictor.predict(image(s)) for s in scenes]
    return (
        np.array([r.uncertainty for r in results], dtype=np.float64),
        np.stack([np.asarray(r.features, dtype=np.float64) for r in results]),
        np.array([len(r.instances) for r in results], dtype=np.float64),
    )


class Site(Protocol):
    """What a strategy's rounds need of a site: its pool items' images, their labels written, a fine-tune on
    them scored on the site's val set (a curve point's figures), and a last word on the final model."""

    def image(self, item: dict[str, Any]) -> np.ndarray: ...

    def write_labels(self, items: list[dict[str, Any]], folder: Path, name: str) -> Path: ...

    def train_and_score(
        self, base: Path, train: Path, out: Path, cfg: SimConfig, seed: int, labels: int
    ) -> dict[str, float]: ...

    def final(self, model: Path) -> dict[str, Any]: ...


class SyntheticSite:
    """The simulated new site: scenes in memory, labelled with the generator's masks, scored with mask AP."""

    def __init__(self, val: Path):
        self.val = val

    def image(self, item: dict[str, Any]) -> np.ndarray:
        return item["image"]

    def write_labels(self, items: list[dict[str, Any]], folder: Path, name: str) -> Path:
        return write_coco(items, folder, name)

    def train_and_score(
        self, base: Path, train: Path, out: Path, cfg: SimConfig, seed: int, labels: int
    ) -> dict[str, float]:
        result = fine_tune(base, train, self.val, out, cfg, seed, labels)
        ap = float(result["mask_ap"]) if "mask_ap" in result else evaluate(out, self.val)
        return {"mask_ap": round(ap, 4), "mask_ap50": round(float(result.get("mask_ap50", float("nan"))), 4)}

    def final(self, model: Path) -> dict[str, Any]:
        return {"mask_ap_by_condition": mask_ap_by_condition(predictions(model, self.val), self.val)}


# --------------------------------------------------------------------------- the loop


def run_strategy(
    strategy: str,
    pool: list[dict[str, Any]],
    workdir: Path,
    base: Path,
    site: Site,
    start: dict[str, float],
    cfg: SimConfig,
    seed: int,
    log,
) -> dict[str, Any]:
    """``cfg.rounds`` rounds of ``strategy`` on ``pool``; ``start``: the base's figures (the curve at 0 labels)."""
    rng = np.random.default_rng(seed + 1)
    labelled: list[int] = []  # indices into pool
    model = base
    curve: list[dict[str, Any]] = [{"labels": 0, **start}]
    picked = dict.fromkeys(CONDITIONS, 0)  # labelled images per condition (real frames have none)
    for round_no in range(1, cfg.rounds + 1):
        unlabelled = [i for i in range(len(pool)) if i not in set(labelled)]
        if strategy == "random":
            picks = rng.choice(unlabelled, size=cfg.batch, replace=False).tolist()
        else:
            uncertainty, features, counts = score_pool(model, pool, site.image)
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
            picked[condition] += sum(pool[i].get(condition, False) for i in picks)
        train = site.write_labels([pool[i] for i in labelled], workdir, f"{strategy}_r{round_no}.json")
        out = workdir / f"{strategy}_r{round_no}.pt"
        begun = time.perf_counter()
        point = site.train_and_score(base, train, out, cfg, seed, len(labelled))
        curve.append({"labels": len(labelled), **point, "seconds": round(time.perf_counter() - begun, 1)})
        metric = next(iter(point))
        log(
            f"seed {seed} {strategy:>22} round {round_no}: {len(labelled):3d} labels  {metric} {point[metric]:.4f}"
        )
        if model != base:
            Path(model).unlink(missing_ok=True)
        model = out
    return {
        "curve": curve,
        "captures_labelled": len({pool[i]["capture"] for i in labelled}),
        **site.final(model),  # after the last round
        **{f"{c}_share_labelled": round(n / max(len(labelled), 1), 3) for c, n in picked.items()},
    }


def run_job(
    job: tuple[str, list[dict[str, Any]], Path, Path, Site, dict[str, float], SimConfig, int],
) -> dict[str, Any]:
    """One strategy's loop on one pool, in a worker process (logs go to stderr)."""
    import torch

    torch.set_num_threads(job[6].threads)
    return run_strategy(*job, log=lambda msg: print(msg, file=sys.stderr, flush=True))


def run_jobs(jobs: list[tuple], workers: int) -> list[dict[str, Any]]:
    """``run_job`` of every job, in ``workers`` processes (spawned: no forking a process that already ran torch)."""
    if workers <= 1:
        return [run_job(job) for job in jobs]
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context) as executor:
        return list(executor.map(run_job, jobs))

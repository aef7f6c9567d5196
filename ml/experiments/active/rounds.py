"""One strategy's rounds on one pool: pick images (random, or the queue's ``diverse_order`` over the latest
model's scores), fine-tune the base on all labels so far with the product's recipe, score on the val set."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

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


def run_job(
    job: tuple[str, list[dict[str, Any]], Path, Path, Path, float, float, SimConfig, int],
) -> dict[str, Any]:
    """One strategy's loop on one pool, in a worker process (logs go to stderr)."""
    import torch

    torch.set_num_threads(job[7].threads)
    return run_strategy(*job, log=lambda msg: print(msg, file=sys.stderr, flush=True))

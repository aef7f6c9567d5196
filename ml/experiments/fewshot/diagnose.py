"""Why did fine-tunes on site W's box labels lose AP? One fine-tune per ablation, scored on W's frames.

    python -m ml.experiments.fewshot.diagnose --data /work/data/public_boxes \\
        --base ml/checkpoints/universal_base.pt --out /work/runs/diag \\
        --variant lr1e-5:lr=1e-5 --variant no_interior:lr=3e-5,interior_weight=0

Each variant fine-tunes ``--base`` on ``--train`` (a split of :mod:`ml.experiments.fewshot.sites`, 300
of W's pool frames by default) as ``ml.universal.finetune`` does (BatchNorm frozen, AdamW, cosine
schedule), then scores W's val frames and held-out test videos: class-agnostic box AP50 with a 95%
bootstrap interval, recall over all scores, and shapes per image. The variant ``base`` scores
``--base`` itself. Keys of a variant: ``lr``, ``steps``, ``contact_weight``, ``freeze_batchnorm``
(training options) and three ablations of the loss, set for that run only:
``interior_weight`` (``engine.INTERIOR_WEIGHT``), ``projection_weight`` (``engine.PROJECTION_WEIGHT``)
``known_margin`` (``targets.KNOWN_MARGIN``; -1: no known background at all), ``box_cores`` and
``box_seams`` (``targets.BOX_CORES`` / ``BOX_SEAMS``: 1 lets boxes' cores / seams supervise the interior map). Results are cached
per variant and split in ``out/results.json``. Findings: ``docs/fewshot.md``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ml.experiments.fewshot.run import ap50_interval
from ml.experiments.fewshot.sites import write_site_splits
from ml.universal import engine, targets
from ml.universal.box_eval import checkpoint_boxes
from ml.universal.coco_eval import box_figures
from ml.universal.train import train

ABLATIONS = {
    "interior_weight": (engine, "INTERIOR_WEIGHT"),
    "projection_weight": (engine, "PROJECTION_WEIGHT"),
    "known_margin": (targets, "KNOWN_MARGIN"),
    "box_cores": (targets, "BOX_CORES"),
    "box_seams": (targets, "BOX_SEAMS"),
}
TRAINING: dict[str, Callable[[str], Any]] = {
    "lr": float,
    "steps": int,
    "contact_weight": float,
    "freeze_batchnorm": lambda v: v == "true",
}


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``name:key=value,...`` -> (name, {key: value}); unknown keys are an error that names them."""
    name, _, spec = text.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        if key in ABLATIONS:
            options[key] = float(value)
        elif key in TRAINING:
            options[key] = TRAINING[key](value)
        else:
            raise ValueError(
                f"unknown key {key!r} in variant {name!r}; use {sorted([*ABLATIONS, *TRAINING])}"
            )
    return name, options


@contextmanager
def ablated(options: dict[str, Any]) -> Iterator[None]:
    """Set the loss constants named in ``options`` for the duration of one run, then restore them."""
    saved = {key: getattr(*ABLATIONS[key]) for key in options if key in ABLATIONS}
    try:
        for key in saved:
            setattr(*ABLATIONS[key], options[key])
        yield
    finally:
        for key, value in saved.items():
            setattr(*ABLATIONS[key], value)


def fine_tune_variant(base: Path, train_coco: Path, data: Path, out: Path, options: dict[str, Any]) -> Path:
    config = {
        "init": str(base),
        "data": {
            "boxes": {
                "coco": str(train_coco),
                "source_map": str(data / "source_map.csv"),
                "images_dir": str(data),
            }
        },
        "epochs": 100_000,
        "steps": 100,
        "batch_size": 8,
        "lr": 3e-4,
        "out": str(out),
        "seed": 0,
        "threads": 2,
        "freeze_batchnorm": True,
        "precision": "auto",
        "contact_weight": None,  # the base's own, as ml.universal.finetune trains
    }
    config.update({k: v for k, v in options.items() if k in TRAINING})
    with ablated(options):
        train(config)
    return out


def score(checkpoint: Path, coco: Path, data: Path, draws: int = 200) -> dict[str, Any]:
    boxes = checkpoint_boxes(checkpoint, coco, data)
    interval = ap50_interval(boxes, draws, seed=0)
    return {
        **interval,
        "recall_all": box_figures(boxes, threshold=0.0)["recall50"],
        "shapes_per_image": round(sum(len(b.scores) for b in boxes) / max(len(boxes), 1), 1),
    }


def run(
    data: Path, base: Path, out: Path, variants: list[str], train_split: str, splits: list[str], draws: int
) -> dict[str, Any]:
    split_dir = out / "splits"
    if not (split_dir / train_split).exists():
        write_site_splits(data, split_dir, pool_sizes=(30, 300))
    cache_path = out / "results.json"
    results: dict[str, Any] = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    for text in variants:
        name, options = parse_variant(text)
        checkpoint = out / f"{name}.pt"
        if name == "base":
            checkpoint = base
        elif not checkpoint.exists():
            fine_tune_variant(base, split_dir / train_split, data, checkpoint, options)
        for split in splits:
            key = f"{name}/{split}"
            if key not in results:
                results[key] = {"options": options, **score(checkpoint, split_dir / split, data, draws)}
                cache_path.write_text(json.dumps(results, indent=1))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="build_public_boxes.py's output folder")
    parser.add_argument("--base", type=Path, required=True, help="the checkpoint to fine-tune")
    parser.add_argument("--out", type=Path, required=True, help="folder for splits, checkpoints and results")
    parser.add_argument("--variant", action="append", required=True, help="name:key=value,... (or 'base')")
    parser.add_argument("--train", default="w_300.json", help="the split the fine-tunes train on")
    parser.add_argument(
        "--splits", nargs="+", default=["w_val.json", "w_test.json"], help="the splits scored"
    )
    parser.add_argument("--draws", type=int, default=200, help="bootstrap draws")
    args = parser.parse_args(argv)
    try:
        results = run(args.data, args.base, args.out, args.variant, args.train, args.splits, args.draws)
    except ValueError as error:
        parser.error(str(error))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

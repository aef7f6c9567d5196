"""The held-out-domain experiment: does a base trained on *other* domains save labels on a new one?

    python -m ml.universal.train --config ml/universal/configs/heldout_pallet_stack.yaml   # the base
    python -m ml.experiments.universal.heldout --base var/heldout/base_minus_pallet_stack.pt --domain pallet_stack

On the held-out domain it trains (1) the base fine-tuned with 10 / 50 / 100 / 200 labelled
images and (2) the same architecture from scratch with 100 / 1,000 images, then evaluates all of
them, and the base itself, on the same test scenes of that domain. Every run has a fixed number
of optimiser steps (not a wall-clock budget), so the result does not depend on how busy the
machine is. Each run picks its grouping thresholds on the same 20 validation scenes of the
domain; where several learning rates are given for an arm (``--finetune-lrs``, ``--scratch-lrs``),
the one with the best validation mask AP is the arm's result (all runs stay in the JSON).

Fine-tunes follow the app's recipe (``ml.universal.finetune``: BatchNorm frozen on the base's
statistics); scratch runs default to the base recipe's learning rate (3e-3). All runs train at
``--input-size``. Scene seeds: pool 500000+, validation 700000+, test 600000+ (the base trained on 100000+).
Prints one JSON object (``--json``), writes it to ``--out`` and a plot to ``--plot``.

Runs can be spread over processes and machines: ``--train-only`` trains (e.g. ``--device cuda``)
and writes each run's checkpoint and record without tuning or evaluating anything; a later
invocation with the same arguments reuses them, tunes their grouping on the CPU and evaluates.
``--prepare`` only writes the pool, validation and test scenes (``--workers`` processes).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ml.synth.dataset import write_dataset
from ml.universal.checkpoint import load_checkpoint, save_checkpoint
from ml.universal.coco_eval import paired_bootstrap
from ml.universal.data import coco_first_n, load_coco
from ml.universal.evaluate import predictions
from ml.universal.finetune import FINE_TUNE_FREEZE_BATCHNORM, FINE_TUNE_LR
from ml.universal.train import train
from ml.universal.tuning import tune_grouping

SCRATCH_LR = 3e-3  # the base recipe's (configs/base.yaml)
POOL_SEED, VAL_SEED, TEST_SEED = 500_000, 700_000, 600_000


def subset(coco_path: Path, count: int) -> Path:
    """The first ``count`` images of a COCO file (and their annotations), beside it."""
    available = len(load_coco(coco_path)["images"])
    if available < count:
        raise ValueError(f"{coco_path} has {available} images, fewer than {count}")
    return coco_first_n(coco_path, count, coco_path.with_name(f"train_{count}.json"))


def scenes(folder: Path, domain: str, count: int, seed: int, workers: int = 1) -> Path:
    """``count`` scenes of ``domain`` as COCO in ``folder``, written once and reused after."""
    coco = folder / "annotations.json"
    if coco.exists() and len(json.loads(coco.read_text())["images"]) >= count:
        return coco
    return write_dataset(folder, domain, count, seed, workers=workers)


def checkpoint_name(kind: str, labels: int, lr: float) -> str:
    prefix = "base_plus" if kind == "base+N" else "scratch"
    return f"{prefix}_{labels}_lr{lr:g}.pt"


def retune(checkpoint: Path, val_coco: Path) -> float:
    """Tune ``checkpoint``'s grouping on ``val_coco`` in place; returns its validation mask AP."""
    model, meta = load_checkpoint(checkpoint)
    metrics = tune_grouping(model, meta, {"coco": str(val_coco)})
    save_checkpoint(checkpoint, model, meta)
    return round(float(metrics["mask_ap"]), 4)


def run(
    kind: str,
    labels: int,
    train_coco: Path,
    val_coco: Path,
    out: Path,
    *,
    base: Path | None,
    steps: int,
    lr: float,
    input_size: int,
    settings: dict[str, Any],
    train_only: bool = False,
) -> dict[str, Any]:
    """One training run of exactly ``steps`` optimiser steps of 8 images at ``input_size``. From
    ``base`` it uses the app's fine-tuning recipe (``ml.universal.finetune``: BatchNorm frozen on
    the base's statistics). ``settings``: ``device``, ``threads``, ``num_workers`` and
    ``budget_seconds`` (a safety cap; the record says how many steps were taken).

    A run whose checkpoint and record (``out`` with ``.json``) exist with the same settings is
    reused, so runs can be spread over several processes and gathered by a last invocation; a
    run trained with ``train_only`` has its grouping tuned on ``val_coco`` when it is reused.
    """
    record = out.with_suffix(".json")
    if out.exists() and record.exists():
        row = json.loads(record.read_text())
        if (row["run"], row["labels"], row["requested_steps"], row["lr"]) == (kind, labels, steps, lr):
            if not row.get("tuned", True) and not train_only:
                row.update(tuned=True, val_mask_ap=retune(out, val_coco))
                record.write_text(json.dumps(row))
            return row
    batch = min(8, labels)
    steps_per_epoch = labels // batch
    config = {
        "init": str(base) if base else None,
        "input_size": input_size,
        "data": {"coco": str(train_coco)},
        "val": None if train_only else {"coco": str(val_coco)},
        "epochs": -(-steps // steps_per_epoch),
        "steps": steps,
        "batch_size": batch,
        "lr": lr,
        "out": str(out),
        "tune_grouping": not train_only,
        "freeze_batchnorm": bool(base) and FINE_TUNE_FREEZE_BATCHNORM,
        "precision": "auto",
        **settings,
    }
    start = time.perf_counter()
    result = train(config)
    row = {
        "run": kind,
        "labels": labels,
        "requested_steps": steps,
        "steps": result["steps"],
        "lr": lr,
        "train_seconds": result["train_seconds"],
        "wall_seconds": round(time.perf_counter() - start, 1),
        "device": result["device"],
        "checkpoint": str(out),
        "tuned": not train_only,
    }
    if not train_only:
        row["val_mask_ap"] = round(float(result["mask_ap"]), 4)
    record.write_text(json.dumps(row))
    return row


def select(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per arm and label count, the run with the best validation mask AP (the base row as it is)."""
    best: dict[tuple[str, int], dict[str, Any]] = {}
    for row in rows:
        key = (row["run"], row["labels"])
        if key not in best or row.get("val_mask_ap", 0.0) > best[key].get("val_mask_ap", 0.0):
            best[key] = row
    return list(best.values())


def draw_plot(rows: list[dict[str, Any]], path: Path, width: int = 640, height: int = 400) -> Path:
    """Mask AP against labels (log scale): fine-tuned base in blue, scratch in orange, base as a line."""
    img = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 60, 20, 30, 50
    xs = [r["labels"] for r in rows if r["labels"]]
    lo, hi = np.log10(min(xs)) - 0.1, np.log10(max(xs)) + 0.1
    top_ap = max(0.05, max(r["mask_ap"] for r in rows) * 1.15)

    def pt(labels: float, ap: float) -> tuple[int, int]:
        x = left + (np.log10(labels) - lo) / (hi - lo) * (width - left - right)
        return int(x), int(height - bottom - ap / top_ap * (height - top - bottom))

    cv2.line(img, (left, height - bottom), (width - right, height - bottom), (0, 0, 0), 1)
    cv2.line(img, (left, top), (left, height - bottom), (0, 0, 0), 1)
    for n in sorted(set(xs)):
        cv2.putText(
            img, str(n), (pt(n, 0)[0] - 10, height - bottom + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1
        )
    for k in range(5):
        ap = top_ap * k / 4
        cv2.putText(
            img, f"{ap:.2f}", (8, pt(min(xs), ap)[1] + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1
        )
    base_ap = next((r["mask_ap"] for r in rows if r["run"] == "base"), None)
    if base_ap is not None:
        cv2.line(img, (left, pt(1, base_ap)[1]), (width - right, pt(1, base_ap)[1]), (150, 150, 150), 1)
    for kind, colour in (("base+N", (200, 90, 30)), ("scratch+N", (30, 130, 240))):
        points = [pt(r["labels"], r["mask_ap"]) for r in rows if r["run"] == kind]
        for a, b in zip(points, points[1:], strict=False):
            cv2.line(img, a, b, colour, 2, cv2.LINE_AA)
        for p in points:
            cv2.circle(img, p, 4, colour, -1, cv2.LINE_AA)
    cv2.putText(
        img,
        "mask AP vs labelled images: base+N (blue), scratch+N (orange), base alone (grey)",
        (left, 18),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.42,
        (0, 0, 0),
        1,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return path


def per_count(
    parser: argparse.ArgumentParser, flag: str, steps: list[int], counts: list[int]
) -> dict[int, int]:
    """``{count: steps}`` from one step count for all, or one per count (in order)."""
    if len(steps) == 1:
        return dict.fromkeys(counts, steps[0])
    if len(steps) != len(counts):
        parser.error(f"{flag} takes one value, or one per label count ({len(counts)}); got {len(steps)}")
    return dict(zip(counts, steps, strict=True))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base", help="a base checkpoint that never saw --domain (not needed with --prepare)"
    )
    parser.add_argument("--domain", default="pallet_stack")
    parser.add_argument(
        "--finetune", type=int, nargs="*", default=[10, 50, 100, 200], help="labels for base+N"
    )
    parser.add_argument("--scratch", type=int, nargs="*", default=[100, 1000], help="labels for scratch+N")
    parser.add_argument(
        "--finetune-steps",
        type=int,
        nargs="+",
        default=[400],
        help="optimiser steps: one for every base+N run, or one per --finetune count",
    )
    parser.add_argument(
        "--scratch-steps",
        type=int,
        nargs="+",
        default=[2000],
        help="optimiser steps: one for every scratch+N run, or one per --scratch count",
    )
    parser.add_argument("--finetune-lrs", type=float, nargs="+", default=[FINE_TUNE_LR])
    parser.add_argument("--scratch-lrs", type=float, nargs="+", default=[SCRATCH_LR])
    parser.add_argument("--input-size", type=int, default=384, help="long side (px) every run trains at")
    parser.add_argument("--val", type=int, default=20, help="validation scenes of the domain (grouping, lr)")
    parser.add_argument("--test", type=int, default=100, help="test scenes of the domain")
    parser.add_argument("--workdir", default="var/heldout")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="training device: cpu, cuda or auto")
    parser.add_argument("--loader-workers", type=int, default=0, help="data-loading processes per run")
    parser.add_argument("--run-budget", type=float, help="seconds: a safety cap on each run's training")
    parser.add_argument("--workers", type=int, default=1, help="processes rendering the scenes")
    parser.add_argument("--prepare", action="store_true", help="only write the scenes")
    parser.add_argument("--train-only", action="store_true", help="train and record; no tuning or evaluation")
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=0,
        metavar="DRAWS",
        help="also resample the test images DRAWS times: base + 100 minus scratch + 1,000",
    )
    parser.add_argument("--out", default="var/heldout/results.json")
    parser.add_argument("--plot", default="docs/heldout_domain.png")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = parser.parse_args(argv)
    if not args.prepare and not args.base:
        parser.error("--base is required unless --prepare is given")

    work = Path(args.workdir)
    pool_size = max([*args.finetune, *args.scratch, 1])
    pool_coco = scenes(work / f"{args.domain}_pool", args.domain, pool_size, POOL_SEED, args.workers)
    val_coco = scenes(work / f"{args.domain}_val", args.domain, args.val, VAL_SEED, args.workers)
    test_coco = scenes(work / f"{args.domain}_test", args.domain, args.test, TEST_SEED, args.workers)
    if args.prepare:
        return {"pool": str(pool_coco), "val": str(val_coco), "test": str(test_coco)}

    settings = {
        "device": args.device,
        "threads": args.threads,
        "num_workers": args.loader_workers,
        "budget_seconds": args.run_budget,
    }
    rows: list[dict[str, Any]] = [{"run": "base", "labels": 0, "steps": 0, "checkpoint": args.base}]
    finetune_steps = per_count(parser, "--finetune-steps", args.finetune_steps, args.finetune)
    scratch_steps = per_count(parser, "--scratch-steps", args.scratch_steps, args.scratch)
    arms: list[tuple[str, int, float, Path | None, int]] = [
        ("base+N", n, lr, Path(args.base), finetune_steps[n])
        for n in args.finetune
        for lr in args.finetune_lrs
    ]
    arms += [("scratch+N", n, lr, None, scratch_steps[n]) for n in args.scratch for lr in args.scratch_lrs]
    for kind, n, lr, base, steps in arms:
        rows.append(
            run(
                kind,
                n,
                subset(pool_coco, n),
                val_coco,
                work / checkpoint_name(kind, n, lr),
                base=base,
                steps=steps,
                lr=lr,
                input_size=args.input_size,
                settings=settings,
                train_only=args.train_only,
            )
        )
    if args.train_only:
        return {"rows": rows[1:]}
    tested = {}  # checkpoint -> its test predictions, kept for the bootstrap
    for row in rows:
        tested[row["checkpoint"]] = predictions(row["checkpoint"], test_coco)
        metrics = tested[row["checkpoint"]].summarize()
        row.update({k: round(float(metrics[k]), 4) for k in ("mask_ap", "mask_ap50", "mask_ap75")})
    chosen = select(rows)
    for row in rows:
        row["selected"] = row in chosen
    pair = [
        next((r for r in chosen if (r["run"], r["labels"]) == key), None)
        for key in (("base+N", 100), ("scratch+N", 1000))
    ]
    report = {
        "domain": args.domain,
        "test_scenes": args.test,
        "rows": rows,
        "base_plus_100_vs_scratch_1000": [r["mask_ap"] if r else None for r in pair],
    }
    if args.bootstrap and pair[0] is not None and pair[1] is not None:
        report["base_plus_100_minus_scratch_1000_bootstrap"] = paired_bootstrap(
            tested[pair[0]["checkpoint"]], tested[pair[1]["checkpoint"]], args.bootstrap
        )
    if args.plot:
        report["plot"] = str(draw_plot(chosen, Path(args.plot)))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    if args.json:
        print(json.dumps(report))
    else:
        for r in rows:
            print(
                f"{r['run']:10s} {r['labels']:5d} labels {r['steps']:5d} steps lr {r.get('lr', 0):g}"
                f"  val AP {r.get('val_mask_ap', float('nan')):.3f}  mask AP {r['mask_ap']:.3f}"
                f"  AP50 {r['mask_ap50']:.3f}{'  *' if r['selected'] else ''}"
            )
    return report


if __name__ == "__main__":
    main()

"""Replay a labelled set through the effort model: seconds per image under five pre-label policies.

    python -m ml.active.effort_replay --checkpoint ml/checkpoints/universal_base.pt \\
        --coco DIR/val.json --subset captures
    python -m ml.active.effort_replay --checkpoint ml/checkpoints/universal_base.pt --synthetic 100 --seed 1234

The five cases (``ml.active.effort`` prices each action):

- ``none``: no pre-labels; every package is drawn with clicks;
- ``every``: every predicted shape is a pre-label;
- ``default``: pre-labels at the checkpoint's calibrated default threshold;
- ``gated``: the first ``--reviewed`` images (20) run as the gate starts (pre-labels at the
  calibrated default; suggestions when the checkpoint has no calibration) and are reviewed; from
  then on each image runs under the gate learned from every image reviewed before it, as the app
  recomputes the gate after each review and re-shows the untouched images when its policy changes
  (``annotator.learning.prelabels.trust_gate_update``). Until 2026-12-07 the replay froze the gate
  learned from the first 20; on real val captures whose first 20 images are of another site than
  the rest, that froze a threshold the later images did not bear out;
- ``suggest``: every shape at the default threshold is a suggestion, not a pre-label.

``gated_after`` is ``gated`` on the images after the first ``--reviewed`` alone: what the learned
gate decided. The printed gate is the decision after every image was reviewed.

Each case prints mean seconds per image and its ratio to ``none`` (sum over images) with a 95 %
bootstrap interval, images resampled. IoU is between boxes: a predicted mask's bounding box and
the labelled box (real sets are labelled with boxes; on synthetic scenes, the mask's box).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ml import geometry
from ml.active.effort import (
    MIN_REVIEWED,
    EffortModel,
    ImageOutcome,
    bootstrap_ratio,
    gate,
    outcome_from_ious,
    seconds_with,
    seconds_without,
)
from ml.universal.eval_data import labelled_photos
from ml.universal.evaluate import synthetic_coco
from ml.universal.predictor import UniversalPredictor

CASES = ("none", "every", "default", "gated", "suggest")


def outcomes_from_predictor(
    predictor: UniversalPredictor, samples: Iterator[tuple[np.ndarray, list[list[float]]]]
) -> list[ImageOutcome]:
    """Predict each image once and match its shapes' boxes against its labelled boxes."""
    out = []
    for rgb, gt_boxes in samples:
        instances = predictor.predict(rgb).instances
        boxes = [geometry.mask_bbox(inst.mask) for inst in instances]
        scores = [float(inst.score) for inst in instances]
        out.append(outcome_from_ious(scores, geometry.box_iou_matrix(boxes, gt_boxes), len(gt_boxes)))
    return out


def coco_samples(coco: str, subset: str | None) -> Iterator[tuple[np.ndarray, list[list[float]]]]:
    """(uint8 RGB image, labelled boxes [x, y, w, h]) of each image of a COCO file's ``subset``, in id order."""
    for _info, rgb, boxes in labelled_photos(coco, None, subset, None):
        yield rgb, boxes


def synthetic_samples(count: int, seed: int) -> Iterator[tuple[np.ndarray, list[list[float]]]]:
    data, samples = synthetic_coco(count, seed)
    boxes: dict[int, list[list[float]]] = {}
    for ann in data["annotations"]:
        boxes.setdefault(ann["image_id"], []).append([float(v) for v in ann["bbox"]])
    for image_id, rgb in samples:
        yield rgb, boxes.get(image_id, [])


def replay(
    outcomes: list[ImageOutcome],
    default_threshold: float,
    model: EffortModel | None = None,
    reviewed: int = MIN_REVIEWED,
    calibrated: bool = True,
) -> dict[str, object]:
    """Seconds per image for each case, its ratio to ``none`` with an interval, and the gate's choice."""
    model = model or EffortModel()
    none = [seconds_without(o, model) for o in outcomes]
    start = gate([], default_threshold, model, calibrated=calibrated)
    minimum = min(reviewed, len(outcomes))
    # Image i (from ``reviewed`` on) is shown under the gate learned from the i images reviewed before it.
    learned = [
        gate(outcomes[:i], default_threshold, model, min_reviewed=minimum)
        for i in range(minimum, len(outcomes))
    ]
    decision = gate(outcomes, default_threshold, model, min_reviewed=minimum)
    per_image = {
        "none": none,
        "every": [seconds_with(o, float("-inf"), "prelabel", model) for o in outcomes],
        "default": [seconds_with(o, default_threshold, "prelabel", model) for o in outcomes],
        "gated": [
            seconds_with(o, start.threshold, start.mode, model)
            if i < minimum
            else seconds_with(o, learned[i - minimum].threshold, learned[i - minimum].mode, model)
            for i, o in enumerate(outcomes)
        ],
        "suggest": [seconds_with(o, default_threshold, "suggest", model) for o in outcomes],
    }
    rows = {}
    for case in CASES:
        ratio, low, high = bootstrap_ratio(per_image[case], none)
        rows[case] = {
            "seconds_per_image": float(np.mean(per_image[case])),
            "ratio_to_none": ratio,
            "ratio_ci95": [low, high],
        }
    if len(outcomes) > reviewed:  # the images the learned gate decided alone
        ratio, low, high = bootstrap_ratio(per_image["gated"][reviewed:], none[reviewed:])
        rows["gated_after"] = {
            "seconds_per_image": float(np.mean(per_image["gated"][reviewed:])),
            "ratio_to_none": ratio,
            "ratio_ci95": [low, high],
        }
    return {
        "images": len(outcomes),
        "packages_per_image": float(np.mean([o.packages for o in outcomes])),
        "shapes_per_image": float(np.mean([len(o.scores) for o in outcomes])),
        "default_threshold": default_threshold,
        "calibrated": calibrated,
        "gate": decision.as_dict(),
        "cases": rows,
        "constants": {
            "draw_s": model.draw_s,
            "verify_s": model.verify_s,
            "delete_s": model.delete_s,
            "fix_s": model.fix_s,
            "accept_s": model.key_s,
        },
    }


def format_table(result: dict[str, object]) -> str:
    lines = [
        f"{result['images']} images, {result['packages_per_image']:.1f} packages and "
        f"{result['shapes_per_image']:.1f} predicted shapes per image; default threshold "
        f"{result['default_threshold']:.2f}",
        f"{'case':<11} {'s / image':>10} {'x none':>8}  95 % interval",
    ]
    cases = result["cases"]
    assert isinstance(cases, dict)
    for case, row in cases.items():
        low, high = row["ratio_ci95"]
        lines.append(
            f"{case:<11} {row['seconds_per_image']:>10.1f} {row['ratio_to_none']:>8.2f}  [{low:.2f}, {high:.2f}]"
        )
    decision = result["gate"]
    assert isinstance(decision, dict)
    lines.append(f"gate: {decision['mode']} at {decision['threshold']}: {decision['reason']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default="ml/checkpoints/universal_base.pt")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--coco", help="COCO file labelled with boxes or masks (images beside it)")
    source.add_argument("--synthetic", type=int, metavar="N", help="N fresh ml.synth scenes")
    parser.add_argument(
        "--subset", choices=("captures", "web", "all"), help="with --coco and a source_map.csv"
    )
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--reviewed", type=int, default=MIN_REVIEWED, help="images the gate learns from")
    parser.add_argument("--draw", choices=("clicks", "polygon"), default="clicks")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument(
        "--outcomes",
        metavar="FILE",
        help="read the matched predictions from FILE if it exists, else write them there",
    )
    args = parser.parse_args(argv)
    if args.reviewed < 1:
        parser.error("--reviewed must be at least 1")
    if args.synthetic is not None and args.synthetic < 1:
        parser.error("--synthetic must be at least 1")
    predictor = UniversalPredictor.from_checkpoint(args.checkpoint)
    cache = Path(args.outcomes) if args.outcomes else None
    if cache is not None and cache.is_file():
        outcomes = [
            ImageOutcome(tuple(o["scores"]), tuple(o["ious"]), o["packages"])
            for o in json.loads(cache.read_text())
        ]
    else:
        samples = (
            coco_samples(args.coco, args.subset)
            if args.coco
            else synthetic_samples(args.synthetic, args.seed)
        )
        outcomes = outcomes_from_predictor(predictor, samples)
        if cache is not None:
            cache.write_text(json.dumps([asdict(o) for o in outcomes]))
    calibrated = predictor.meta.get("score_calibration") is not None
    result = replay(
        outcomes, predictor.default_threshold, EffortModel(draw=args.draw), args.reviewed, calibrated
    )
    result["checkpoint"] = str(Path(args.checkpoint))
    print(json.dumps(result, indent=2) if args.json else format_table(result))


if __name__ == "__main__":
    main()

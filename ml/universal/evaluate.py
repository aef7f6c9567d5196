"""Mask AP and box AP of a checkpoint with pycocotools (COCOeval, iouType "segm" and "bbox").

    python -m ml.universal.evaluate --checkpoint ml/checkpoints/universal_base.pt --synthetic 200 --seed 1234 --json
    python -m ml.universal.evaluate --coco val.json --images DIR --json
    python -m ml.universal.evaluate --coco val.json --json --class-agnostic --subset captures  # real photos, boxes
    python -m ml.universal.evaluate --synthetic 200 --against OTHER.pt --json   # paired bootstrap of the two
    python -m ml.universal.evaluate --synthetic 100 --class-agnostic --json  # finding packages, not naming them

Predicted categories are matched to the ground truth's categories by *name*; ``--class-agnostic``
makes every label and every prediction one category ("package").

On a COCO file (``evaluate_coco``) each prediction is also scored as a box, ``geometry.mask_bbox``
of its mask, against the labelled boxes: box AP, and at the checkpoint's pre-label threshold the
share of labelled boxes found (``recall50``) and the shapes that match none (``false_shapes_per_image``);
``--threshold`` sets another threshold. ``box_metrics`` does the same for a loaded predictor and also
returns every prediction's (score, matched) pair, for calibration.
Mask figures come only from a file whose every annotation has a ``segmentation``, unless
``--boxes-only``: a file that mixes boxes with a few polygons (the real set's polygons outline one
face of a carton) has labels that are not masks.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ml.universal.box_eval import box_metrics, evaluate_coco, predict_boxes
from ml.universal.coco_eval import (
    PACKAGE,
    RESULT_KEYS,
    Box,
    BoxMatch,
    CocoMaskEvaluator,
    ImageBoxes,
    box_figures,
    box_matches,
    class_agnostic_coco,
    coco_from_dict,
    match_boxes,
    paired_bootstrap,
)
from ml.universal.eval_data import (
    SUBSETS,
    EvaluationInputError,
    _read_images,
    coco_selection,
    read_coco,
    read_image,
    samples_from_spec,
    subset_image_ids,
    synthetic_coco,
)

# The evaluator, the inputs and the box scoring live in coco_eval, eval_data and box_eval; the names
# the app, training and calibration import from here stay importable from here.
__all__ = [
    "DEFAULT_CHECKPOINT",
    "PACKAGE",
    "RESULT_KEYS",
    "SUBSETS",
    "Box",
    "BoxMatch",
    "CocoMaskEvaluator",
    "EvaluationInputError",
    "ImageBoxes",
    "_read_images",
    "box_figures",
    "box_matches",
    "box_metrics",
    "class_agnostic_coco",
    "coco_from_dict",
    "coco_selection",
    "compare",
    "evaluate_checkpoint",
    "evaluate_coco",
    "evaluate_synthetic",
    "main",
    "match_boxes",
    "paired_bootstrap",
    "predict_boxes",
    "predictions",
    "read_coco",
    "read_image",
    "samples_from_spec",
    "subset_image_ids",
    "synthetic_coco",
]

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "universal_base.pt"


def predictions(checkpoint: str | Path, coco_path: str | Path) -> CocoMaskEvaluator:
    """``checkpoint``'s predictions on every image of a COCO file, collected (not yet scored)."""
    from ml.universal.predictor import UniversalPredictor

    predictor = UniversalPredictor.from_checkpoint(checkpoint)
    coco = coco_from_dict(json.loads(Path(coco_path).read_text()))
    evaluator = CocoMaskEvaluator(coco)
    for image_id, image in _read_images(coco, Path(coco_path).parent):
        evaluator.update(image_id, predictor.predict(image).instances)
    return evaluator


def evaluate_checkpoint(
    checkpoint: str | Path, coco_path: str | Path, images_dir: str | Path | None = None
) -> dict:
    """Mask AP of ``checkpoint`` on a COCO file; images default to the file's folder."""
    from ml.universal.engine import evaluate
    from ml.universal.predictor import UniversalPredictor

    predictor = UniversalPredictor.from_checkpoint(checkpoint)
    data = json.loads(Path(coco_path).read_text())
    coco = coco_from_dict(data)
    folder = Path(images_dir) if images_dir is not None else Path(coco_path).parent
    return evaluate(predictor, _read_images(coco, folder), CocoMaskEvaluator(coco))


def evaluate_synthetic(
    checkpoint_or_predictor, count: int, seed: int, domain: str = "all", class_agnostic: bool = False
) -> dict:
    """Mask AP on ``count`` freshly generated 512x512 scenes (seeds ``seed`` .. ``seed + count - 1``).

    ``class_agnostic``: every label and prediction is one category, so the figure counts finding a
    package and not naming it (a continued model may find packages as well and name them worse)."""
    from ml.universal.engine import evaluate
    from ml.universal.predictor import UniversalPredictor

    predictor = checkpoint_or_predictor
    if not isinstance(predictor, UniversalPredictor):
        predictor = UniversalPredictor.from_checkpoint(checkpoint_or_predictor)
    data, samples = synthetic_coco(count, seed, domain)
    return evaluate(predictor, samples, CocoMaskEvaluator.from_dict(data, class_agnostic))


def compare(
    checkpoint_a: str | Path,
    checkpoint_b: str | Path,
    data: dict[str, Any],
    samples: list[tuple[int, np.ndarray]],
    draws: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Two checkpoints on the same images (``data`` COCO ground truth, ``samples`` its images): each
    one's metrics, and ``paired_bootstrap`` of a minus b for mask AP and AP50."""
    from ml.universal.engine import evaluate
    from ml.universal.predictor import UniversalPredictor

    report: dict[str, Any] = {}
    evaluators = []
    for key, checkpoint in (("a", checkpoint_a), ("b", checkpoint_b)):
        evaluators.append(CocoMaskEvaluator(coco_from_dict(copy.deepcopy(data))))
        metrics = evaluate(UniversalPredictor.from_checkpoint(checkpoint), samples, evaluators[-1])
        report[key] = {"checkpoint": str(checkpoint), **metrics}
    a, b = evaluators
    report["a_minus_b"] = paired_bootstrap(a, b, draws, seed, metrics=("mask_ap", "mask_ap50"))
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Mask AP and box AP of a universal-model checkpoint.")
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--synthetic", type=int, metavar="N", help="evaluate on N fresh synthetic scenes")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--domain", default="all", help="synthetic domain (default: all, cycling)")
    parser.add_argument(
        "--coco", help="COCO instances file to evaluate on (boxes; masks where every annotation has one)"
    )
    parser.add_argument("--images", help="folder holding the COCO file's images (default: its folder)")
    parser.add_argument(
        "--class-agnostic",
        action="store_true",
        help="with --coco or --synthetic: every label and prediction is one category",
    )
    parser.add_argument(
        "--boxes-only",
        action="store_true",
        help="with --coco: no mask figures. Without it, mask "
        "AP comes only from a file whose every annotation has a segmentation that is the whole "
        "object's mask; pass it for the real set, whose polygons outline one face of a carton",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        metavar="X",
        help="with --coco: score threshold of recall50, "
        "false_shapes_per_image and shapes_per_image (default: the checkpoint's default_threshold)",
    )
    parser.add_argument(
        "--subset",
        choices=SUBSETS,
        help="with --coco: the real set's captures (a series in the "
        "source map), web images (none), or all, reported as a whole and per subset",
    )
    parser.add_argument(
        "--source-map", metavar="CSV", help="the real set's source_map.csv (default: beside --coco)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--against",
        metavar="CKPT",
        help="also run CKPT on the same images and bootstrap the "
        "difference (--checkpoint minus CKPT, mask AP and AP50)",
    )
    parser.add_argument("--draws", type=int, default=200, help="bootstrap draws for --against (default 200)")
    args = parser.parse_args(argv)
    coco_only = [
        flag
        for flag, given in (
            ("--class-agnostic", args.class_agnostic and not args.synthetic),
            ("--boxes-only", args.boxes_only),
            ("--threshold", args.threshold is not None),
            ("--subset", args.subset),
            ("--source-map", args.source_map),
        )
        if given
    ]
    if args.class_agnostic and args.against:
        parser.error("--class-agnostic does not go with --against (the bootstrap compares named categories)")
    if coco_only and (not args.coco or args.against):
        parser.error(f"{', '.join(coco_only)} go with --coco FILE (and not with --against)")
    start = time.perf_counter()
    try:
        if args.against:
            if args.coco:
                spec: dict[str, Any] = {"coco": args.coco, "images_dir": args.images}
            elif args.synthetic:
                spec = {"synthetic": {"count": args.synthetic, "seed": args.seed, "domain": args.domain}}
            else:
                parser.error("give --synthetic N or --coco FILE")
            metrics = compare(args.checkpoint, args.against, *samples_from_spec(spec), args.draws)
        elif args.coco:
            metrics = evaluate_coco(
                args.checkpoint,
                args.coco,
                args.images,
                class_agnostic=args.class_agnostic,
                boxes_only=args.boxes_only,
                subset=args.subset,
                source_map=args.source_map,
                threshold=args.threshold,
            )
        elif args.synthetic:
            metrics = evaluate_synthetic(
                args.checkpoint, args.synthetic, args.seed, args.domain, class_agnostic=args.class_agnostic
            )
        else:
            parser.error("give --synthetic N or --coco FILE")
    except EvaluationInputError as exc:
        parser.error(str(exc))
    metrics["wall_seconds"] = round(time.perf_counter() - start, 2)
    if args.json:
        print(json.dumps(metrics))
    else:
        for key, value in metrics.items():
            print(f"{key:>22}: {value}")


if __name__ == "__main__":
    main()

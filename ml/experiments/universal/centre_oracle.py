"""Is it the maps or the grouping? A checkpoint's maps grouped from the labelled boxes' centres.

    python -m ml.experiments.universal.centre_oracle CKPT --coco DIR/val.json --subset captures
    python -m ml.experiments.universal.centre_oracle CKPT --synthetic 60 --seed 1234

For each photo of a boxes-only COCO file it reports, class-agnostic:

* ``standard``: the checkpoint's own box figures (``coco_eval.box_figures`` at its default threshold);
* ``centre_seeds``: the same maps grouped from one seed per labelled box, a disk of a fifth of the
  box's shorter side at its centre, through the same growth and nearest-region steps
  (``grouping.grow_down``); each instance scores its mean foreground probability. What a perfect
  centre detector would give these maps;
* ``core_coverage``: per labelled box, the share of its middle half (each side) that the maps call
  foreground; ``mean`` and ``covered`` (the share of boxes at least half covered).

High coverage with low standard AP means the maps see the packages and the grouping loses them: the
finding that led to ``ml.universal.centers`` (the model card, "Centres").

``--synthetic N`` (``synthetic_oracle``) asks the converse on synthetic scenes, whose masks are exact:
what do ``centers.group_from_centers`` (masks grown from centres alone) and ``centers.group_with_centers``
(interior seeds checked against centres) make of the true instances' boxes, against the checkpoint's own
grouping (mask AP)? A grouping that loses AP even with perfect centres cannot keep the synthetic guard.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ml import geometry
from ml.universal.centers import group_from_centers, group_with_centers
from ml.universal.coco_eval import CocoMaskEvaluator, ImageBoxes, box_figures, coco_from_dict
from ml.universal.eval_data import labelled_photos, synthetic_coco
from ml.universal.grouping import grow_down, nearest_region, seeded_foreground
from ml.universal.predictor import Instance, UniversalPredictor, working_size

SEED_RADIUS = 0.2  # of a box's shorter side


def centre_oracle(
    checkpoint: str | Path,
    coco: str | Path,
    subset: str | None = "captures",
    source_map: str | Path | None = None,
) -> dict[str, Any]:
    """The report described in the module docstring."""
    predictor = UniversalPredictor.from_checkpoint(checkpoint)
    params = predictor.grouping
    standard, oracle, coverage = [], [], []
    for info, image, boxes in labelled_photos(coco, None, subset, source_map):
        image_id = info["id"]
        height, width = image.shape[:2]
        h, w = working_size(height, width, predictor.working_long_side)
        with torch.inference_mode():
            maps = predictor._maps(image, h, w)
        result = predictor.from_maps(*maps, image_size=(height, width))
        standard.append(
            ImageBoxes(
                image_id,
                [geometry.mask_bbox(inst.mask) for inst in result.instances],
                [inst.score for inst in result.instances],
                boxes,
            )
        )
        probs, interior = maps[0], maps[1]
        foreground = probs[0] < params.foreground_threshold
        sx, sy = w / width, h / height
        seeds = np.zeros((h, w), np.int32)
        for k, (x, y, bw, bh) in enumerate(boxes, start=1):
            radius = max(1, int(SEED_RADIUS * min(bw * sx, bh * sy)))
            cv2.circle(seeds, (int((x + bw / 2) * sx), int((y + bh / 2) * sy)), radius, k, -1)
            x0, y0 = int((x + bw / 4) * sx), int((y + bh / 4) * sy)
            x1, y1 = max(int((x + 3 * bw / 4) * sx), x0) + 1, max(int((y + 3 * bh / 4) * sy), y0) + 1
            coverage.append(float(foreground[y0:y1, x0:x1].mean()) if foreground[y0:y1, x0:x1].size else 0.0)
        seeds[~foreground] = 0
        regions = (
            grow_down(seeds, interior, foreground, params.growth_levels) if params.growth_levels else seeds
        )
        labels = np.where(seeded_foreground(foreground, seeds), nearest_region(regions), 0)
        found, scores = [], []
        for k in range(1, len(boxes) + 1):
            mask = labels == k
            if mask.any():
                x, y, bw, bh = geometry.mask_bbox(mask)
                found.append([x / sx, y / sy, bw / sx, bh / sy])
                scores.append(float(1.0 - probs[0][mask].mean()))
        oracle.append(ImageBoxes(image_id, found, scores, boxes))
    cover = np.array(coverage) if coverage else np.zeros(0)
    return {
        "checkpoint": str(checkpoint),
        "coco": str(coco),
        "subset": subset,
        "standard": box_figures(standard, predictor.default_threshold),
        "centre_seeds": box_figures(oracle, 0.0),
        "core_coverage": {
            "boxes": int(len(cover)),
            "mean": round(float(cover.mean()), 4) if len(cover) else None,
            "covered": round(float((cover >= 0.5).mean()), 4) if len(cover) else None,
        },
    }


def synthetic_oracle(checkpoint: str | Path, count: int, seed: int) -> dict[str, Any]:
    """Mask AP on ``count`` synthetic scenes (seeds ``seed``..): the checkpoint's own grouping, and its
    maps grouped from the true instances' boxes by ``group_from_centers`` and by ``group_with_centers``.
    The true boxes are passed largest first; every shape scores its mean foreground probability."""
    predictor = UniversalPredictor.from_checkpoint(checkpoint)
    data, samples = synthetic_coco(count, seed)
    boxes_of: dict[int, list[list[float]]] = {}
    for ann in data["annotations"]:
        x, y, w, h = ann["bbox"]
        boxes_of.setdefault(ann["image_id"], []).append([x, y, x + w, y + h])
    groupings = {"from_centres": group_from_centers, "with_centres": group_with_centers}
    evaluators = {name: CocoMaskEvaluator(coco_from_dict(data)) for name in ("standard", *groupings)}
    for image_id, image in samples:
        with torch.inference_mode():
            maps = predictor._maps(image, *image.shape[:2])
        evaluators["standard"].update(image_id, predictor.from_maps(*maps).instances)
        truth = np.array(boxes_of.get(image_id, []), np.float32).reshape(-1, 4)
        truth = truth[np.argsort(-np.prod(truth[:, 2:] - truth[:, :2], axis=1), kind="stable")]
        order = np.linspace(1.0, 0.5, len(truth), dtype=np.float32)
        for name, group in groupings.items():
            raw = group(maps[0], maps[1], truth, order, predictor.grouping)
            evaluators[name].update(
                image_id,
                [
                    Instance(
                        r.mask,
                        predictor.categories[r.class_index - 1],
                        float(1.0 - maps[0][0][r.mask].mean()),
                    )
                    for r in raw
                ],
            )
    return {
        "checkpoint": str(checkpoint),
        "synthetic": {"count": count, "seed": seed},
        **{name: evaluator.summarize() for name, evaluator in evaluators.items()},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="A checkpoint's maps grouped from the labelled boxes' centres."
    )
    parser.add_argument("checkpoint")
    parser.add_argument("--coco", help="COCO file of photos labelled with boxes")
    parser.add_argument("--synthetic", type=int, help="instead: this many synthetic scenes, with exact masks")
    parser.add_argument("--seed", type=int, default=1234, help="the first synthetic scene's seed")
    parser.add_argument("--subset", default="captures", choices=("captures", "web", "all"))
    parser.add_argument("--source-map", help="the real set's source_map.csv (default: beside --coco)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.synthetic:
        print(json.dumps(synthetic_oracle(args.checkpoint, args.synthetic, args.seed)))
    elif args.coco:
        print(json.dumps(centre_oracle(args.checkpoint, args.coco, args.subset, args.source_map)))
    else:
        parser.error("give --coco FILE or --synthetic N")


if __name__ == "__main__":
    main()

"""The grouping's ceiling: mask AP when the network's maps are perfect.

    python -m ml.experiments.universal.ceiling --synthetic 100 --seed 1234 --input-size 384 --json

Each scene's true instances become the maps a perfect network would output at its stride
(``targets.instance_targets``: one-hot classes and the interior map, at ``input_size``); they go
through the predictor's path from there on (``predictor.maps_at_image_size``, then
``group_instances``) and are scored like a checkpoint. What this misses, no amount of training
of the same heads recovers: occluder-split parcels and slivers lost at stride 2.
"""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
import torch

from ml.synth.dataset import iter_scenes
from ml.synth.scene import CATEGORIES
from ml.universal import targets
from ml.universal.coco_eval import CocoMaskEvaluator, coco_from_dict
from ml.universal.eval_data import synthetic_coco
from ml.universal.grouping import GroupingParams, group_instances
from ml.universal.predictor import Instance, maps_at_image_size

CONFIDENT = 0.98  # probability of the true class / interior value, kept off 0 and 1 so logits are finite


def perfect_logits(labels: np.ndarray, classes: np.ndarray, input_size: int) -> tuple[torch.Tensor, float]:
    """(1, C + 2, h, w) logits, classes then interior, of a perfect network at stride 2; and the resize scale."""
    small, scale = targets.resize_long_side(
        labels.astype(np.float32), input_size, interpolation=cv2.INTER_NEAREST
    )
    semantic, interior = targets.instance_targets(small.astype(np.int64), classes, (input_size, input_size))
    n_classes = len(CATEGORIES) + 1
    onehot = np.eye(n_classes, dtype=np.float32)[np.minimum(semantic, n_classes - 1)].transpose(2, 0, 1)
    class_logits = np.log(onehot * CONFIDENT + (1 - CONFIDENT) / n_classes)
    p = np.clip(interior, 1 - CONFIDENT, CONFIDENT)
    return torch.from_numpy(np.concatenate([class_logits, np.log(p / (1 - p))[None]]))[None], scale


def ceiling(count: int, seed: int, input_size: int, seed_threshold: float) -> dict:
    """COCO mask metrics of perfect maps on ``count`` fresh scenes (seeds ``seed``...), all domains."""
    data, samples = synthetic_coco(count, seed)
    evaluator = CocoMaskEvaluator(coco_from_dict(data))
    names = list(CATEGORIES)
    params = GroupingParams(seed_threshold=seed_threshold)
    for (image_id, image), scene in zip(samples, iter_scenes("all", count, seed), strict=True):
        classes = np.array([0] + [names.index(i.category) + 1 for i in scene.instances])
        logits, scale = perfect_logits(scene.labels, classes, input_size)
        probs, interior = maps_at_image_size(logits, scale, *image.shape[:2])
        raw = group_instances(probs, interior, params)
        evaluator.update(
            image_id, [Instance(mask=r.mask, category=names[r.class_index - 1], score=r.score) for r in raw]
        )
    return {
        **evaluator.summarize(),
        "images": count,
        "input_size": input_size,
        "seed_threshold": seed_threshold,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Mask AP of the grouping on perfect maps (its ceiling).")
    parser.add_argument("--synthetic", type=int, default=100, metavar="N")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--input-size", type=int, default=384)
    parser.add_argument("--seed-threshold", type=float, default=0.4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = ceiling(args.synthetic, args.seed, args.input_size, args.seed_threshold)
    print(json.dumps(result) if args.json else "\n".join(f"{k:>16}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()

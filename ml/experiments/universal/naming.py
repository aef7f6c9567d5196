"""Does a checkpoint's class map name packages, or only find them? The pixel confusion of its semantic map.

    python -m ml.experiments.universal.naming CKPT --scenes 30 --seed 5000

For each true category of fresh synthetic scenes (exact masks for all five), the share of its visible pixels to
which the checkpoint's class map (``UniversalPredictor.dense_maps``, argmax) gives background and each category.
A model whose class-agnostic mask AP is far above its named one (``evaluate --synthetic N --class-agnostic``)
finds packages but misnames them; these rows say which categories it confuses (the model card, "the
twenty-second's maps": a new head that never named an envelope).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from ml.synth.dataset import iter_scenes
from ml.synth.scene import CATEGORIES, Scene
from ml.universal.predictor import UniversalPredictor


def pixel_confusion(
    scenes: Iterable[Scene], class_probabilities: Callable[[np.ndarray], np.ndarray]
) -> dict[str, dict[str, float]]:
    """{true category: {"background" or predicted category: share of its pixels}}, from ``class_probabilities``
    (an RGB image to (C + 1, H, W) probabilities, channel 0 background). A category with no pixel is left out."""
    names = ["background", *CATEGORIES]
    counts = np.zeros((len(CATEGORIES), len(names)), dtype=np.int64)
    for scene in scenes:
        predicted = class_probabilities(scene.image).argmax(axis=0)
        for index, instance in enumerate(scene.instances):
            pixels = predicted[scene.labels == index + 1]
            counts[CATEGORIES.index(instance.category)] += np.bincount(pixels, minlength=len(names))
    return {
        true: {name: round(float(n / row.sum()), 4) for name, n in zip(names, row, strict=True)}
        for true, row in zip(CATEGORIES, counts, strict=True)
        if row.sum()
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="The pixel confusion of a checkpoint's class map.")
    parser.add_argument("checkpoint")
    parser.add_argument("--scenes", type=int, default=30, help="synthetic scenes, the four domains in turn")
    parser.add_argument("--seed", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if args.scenes < 1:
        parser.error(f"--scenes must be at least 1, got {args.scenes}")
    torch.set_num_threads(args.threads)
    predictor = UniversalPredictor.from_checkpoint(args.checkpoint)
    report = {
        "checkpoint": args.checkpoint,
        "scenes": args.scenes,
        "seed": args.seed,
        "confusion": pixel_confusion(
            iter_scenes("all", args.scenes, args.seed), lambda image: predictor.dense_maps(image)[0]
        ),
    }
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()

"""CLI: ``python -m ml.universal.predict IMAGE [--checkpoint CKPT]`` prints polygons as JSON.

Output: {"image": path, "width", "height", "uncertainty", "instances": [{"category",
"score", "shape": MultiPolygon in image pixels (see ml.geometry)}]}.
"""

from __future__ import annotations

import argparse
import json
import time

import cv2

from ml.universal.evaluate import DEFAULT_CHECKPOINT
from ml.universal.predictor import UniversalPredictor


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Predict package instances in one image.")
    parser.add_argument("image")
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--min-score", type=float, default=0.3)
    args = parser.parse_args(argv)
    bgr = cv2.imread(args.image, cv2.IMREAD_COLOR)
    if bgr is None:
        parser.error(f"cannot read image {args.image}")
    image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    predictor = UniversalPredictor.from_checkpoint(args.checkpoint)
    start = time.perf_counter()
    result = predictor.predict(image)
    seconds = time.perf_counter() - start
    instances = [
        {"category": inst.category, "score": round(inst.score, 4), "shape": inst.shape}
        for inst in result.instances
        if inst.score >= args.min_score
    ]
    print(
        json.dumps(
            {
                "image": args.image,
                "width": image.shape[1],
                "height": image.shape[0],
                "uncertainty": round(result.uncertainty, 4),
                "seconds": round(seconds, 3),
                "instances": instances,
            }
        )
    )


if __name__ == "__main__":
    main()

"""The acceptance panel's matching on 12 MP photos: run-length IoU against full-size masks (prints figures).

    python -m tests.bench.bench_acceptance [--shapes 40] [--repeats 5]

``annotator.learning.acceptance`` matches an image's pre-labels with its accepted shapes by mask
IoU. It used to rasterise every shape at full size and compare the masks pair by pair (8 s for
one 4000 x 3000 photo with 40 shapes on this project's machine: the 2.5-4.9 s panel of issue 30
with smaller sets); it now computes the same IoU matrix on COCO run-length encodings
(``ml.geometry.shape_iou_matrix``). Both are timed here on the same shapes, and must agree.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from ml.geometry import mask_iou, shape_iou_matrix, shape_to_mask

WIDTH, HEIGHT = 4000, 3000


def shapes(n: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        cx, cy = rng.uniform(300, WIDTH - 300), rng.uniform(300, HEIGHT - 300)
        angles = np.sort(rng.uniform(0, 2 * np.pi, 12))
        radii = rng.uniform(80, 250, 12)
        out.append(
            [
                [
                    [
                        [float(cx + r * np.cos(a)), float(cy + r * np.sin(a))]
                        for a, r in zip(angles, radii, strict=True)
                    ]
                ]
            ]
        )
    return out


def full_size(a: list, b: list) -> np.ndarray:
    """The former way: every shape rasterised at 12 MP, then every pair compared."""
    ma = [shape_to_mask(s, HEIGHT, WIDTH) for s in a]
    mb = [shape_to_mask(s, HEIGHT, WIDTH) for s in b]
    return np.array([[mask_iou(x, y) for y in mb] for x in ma])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    pre, final = shapes(args.shapes, 1), shapes(args.shapes, 2)
    rle_ms = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        fast = shape_iou_matrix(pre, final, HEIGHT, WIDTH)
        rle_ms.append(1000 * (time.perf_counter() - t))
    t = time.perf_counter()
    slow = full_size(pre, final)
    full_ms = 1000 * (time.perf_counter() - t)
    assert np.allclose(fast, slow), "the two IoU matrices differ"
    print(
        json.dumps(
            {
                "acceptance_match_12mp": {
                    "shapes_per_set": args.shapes,
                    "run_length_ms": round(min(rle_ms), 1),
                    "full_size_masks_ms": round(full_ms, 1),
                }
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

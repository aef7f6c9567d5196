"""``shape_iou_matrix`` (run-length IoU) agrees with IoU of the rasterised masks, holes included."""

from __future__ import annotations

import numpy as np

from ml.geometry import box_iou_matrix, greedy_matches, mask_iou, shape_iou_matrix, shape_to_mask


def _polygon(rng: np.random.Generator, width: int, height: int) -> list:
    cx, cy = rng.uniform(20, width - 20), rng.uniform(20, height - 20)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 7))
    radii = rng.uniform(5, 18, 7)
    ring = [
        [float(cx + r * np.cos(a)), float(cy + r * np.sin(a))] for a, r in zip(angles, radii, strict=True)
    ]
    return [[ring]]


def test_shape_iou_matrix_matches_mask_iou() -> None:
    rng = np.random.default_rng(3)
    height, width = 90, 120
    a = [_polygon(rng, width, height) for _ in range(6)]
    b = [_polygon(rng, width, height) for _ in range(5)] + [a[2]]
    # a square with a hole, against the same square without it
    b.append([[[[10, 10], [50, 10], [50, 50], [10, 50]], [[20, 20], [30, 20], [30, 30], [20, 30]]]])
    a.append([[[[10, 10], [50, 10], [50, 50], [10, 50]]]])
    ious = shape_iou_matrix(a, b, height, width)
    assert ious.shape == (7, 7)
    for i, sa in enumerate(a):
        for j, sb in enumerate(b):
            expected = mask_iou(shape_to_mask(sa, height, width), shape_to_mask(sb, height, width))
            assert abs(ious[i, j] - expected) < 1e-9, (i, j)
    assert ious[2, 5] == 1.0
    assert abs(ious[6, 6] - (1600 - 100) / 1600) < 1e-9
    assert shape_iou_matrix([], b, height, width).shape == (0, 7)


def test_greedy_matching_takes_each_column_once_best_row_first() -> None:
    ious = box_iou_matrix([[0, 0, 10, 10], [0, 0, 10, 8], [40, 40, 5, 5]], [[0, 0, 10, 10], [0, 2, 10, 8]])
    assert ious.shape == (3, 2) and ious[0, 0] == 1.0
    # Row 0 takes column 0; row 1's best is then gone, and its IoU 0.6 with column 1 is below 0.7.
    assert greedy_matches(ious, 0.7).tolist() == [0, -1, -1]
    assert greedy_matches(ious, 0.5).tolist() == [0, 1, -1]
    assert greedy_matches(box_iou_matrix([[0, 0, 1, 1]], []), 0.5).tolist() == [-1]

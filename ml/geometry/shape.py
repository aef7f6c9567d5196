"""Shapes as plain lists (MultiPolygons in image pixels) and what can be read off them and masks.

Conventions are in :mod:`ml.geometry`.
"""

from __future__ import annotations

from collections.abc import Sequence, Sized

import numpy as np

Ring = list[list[float]]
Polygon = list[Ring]
Shape = list[Polygon]


class GeometryError(ValueError):
    """A shape that cannot be repaired; the message says why."""


def _signed_area(pts: np.ndarray) -> float:
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _ring_area(ring: Ring) -> float:
    return abs(_signed_area(np.asarray(ring, dtype=np.float64)))


def _flat(ring: Ring) -> list[float]:
    return [float(c) for xy in ring for c in xy]


def scale_shape(shape: Shape, sx: float, sy: float) -> Shape:
    """``shape`` in an image resized by (``sx``, ``sy``): every vertex multiplied, rounded to 0.01 px.

    Vertices lie on pixel corners, so corner (0, 0) stays put and corner (W, H) goes to
    (W * sx, H * sy): the polygon of a mask, scaled by 2, covers that mask with every pixel
    made a 2 x 2 block (no half-pixel shift, which pixel-centre coordinates would need).
    """
    return [
        [[[round(float(x) * sx, 2), round(float(y) * sy, 2)] for x, y in ring] for ring in poly]
        for poly in shape
    ]


# --------------------------------------------------------------------------- measures


def shape_bbox(shape: Shape) -> list[float]:
    """COCO bbox [x, y, width, height] of all vertices."""
    pts = np.asarray([xy for poly in shape for ring in poly[:1] for xy in ring], dtype=np.float64)
    if pts.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    return [round(float(x0), 2), round(float(y0), 2), round(float(x1 - x0), 2), round(float(y1 - y0), 2)]


def shape_area(shape: Shape) -> float:
    """Area in square pixels: exteriors minus holes (parts assumed disjoint)."""
    total = 0.0
    for poly in shape:
        total += _ring_area(poly[0]) - sum(_ring_area(h) for h in poly[1:])
    return round(total, 2)


def shape_area_bbox(shape: Shape) -> tuple[float, list[float]]:
    """``(shape_area(shape), shape_bbox(shape))`` in one pure-Python pass (fast for export scans).

    The area may differ from ``shape_area`` in the last rounded digit (0.01 px²): summation order.
    """
    total = 0.0
    xs: list[float] = []
    ys: list[float] = []
    for poly in shape:
        for index, ring in enumerate(poly):
            rx = [p[0] for p in ring]
            ry = [p[1] for p in ring]
            twice = sum(map(float.__mul__, map(float, rx), map(float, ry[1:] + ry[:1]))) - sum(
                map(float.__mul__, map(float, rx[1:] + rx[:1]), map(float, ry))
            )
            if index == 0:
                total += abs(twice) / 2
                xs.extend(rx)
                ys.extend(ry)
            else:
                total -= abs(twice) / 2
    if not xs:
        return round(total, 2), [0.0, 0.0, 0.0, 0.0]
    x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
    bbox = [round(float(x0), 2), round(float(y0), 2), round(float(x1 - x0), 2), round(float(y1 - y0), 2)]
    return round(total, 2), bbox


def shape_vertex_count(shape: Sequence[Sequence[Sized]]) -> int:
    """Vertices of a Shape, or of traced contours (parts of (N, 1, 2) arrays): both nest the same way."""
    return sum(len(ring) for poly in shape for ring in poly)


def mask_bbox(mask: np.ndarray) -> list[float]:
    """x, y, width, height of a 2-D mask's set pixels; zeros for an empty mask."""
    # The rows and columns that hold a pixel, not every pixel's coordinates: several times faster on the
    # predictor's masks, which it boxes a few times per shape.
    rows, cols = np.flatnonzero(np.any(mask, axis=1)), np.flatnonzero(np.any(mask, axis=0))
    if len(cols) == 0:
        return [0.0, 0.0, 0.0, 0.0]
    x0, x1, y0, y1 = int(cols[0]), int(cols[-1]), int(rows[0]), int(rows[-1])
    return [float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)]


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    inter = np.count_nonzero(a & b)  # counting set bytes is ~6x faster than summing bools
    union = np.count_nonzero(a) + np.count_nonzero(b) - inter
    return float(inter / union) if union else 1.0


def shape_to_coco_polygons(shape: Shape) -> list[list[float]]:
    """Flat COCO polygon lists, exteriors only (COCO polygon mode cannot express holes)."""
    return [_flat(poly[0]) for poly in shape]


def shape_has_holes(shape: Shape) -> bool:
    return any(len(poly) > 1 for poly in shape)


def shape_within_image(shape: Shape, *, width: int, height: int) -> bool:
    """True when every vertex lies inside [0, width] x [0, height]."""
    pts = [xy for poly in shape for ring in poly for xy in ring]
    return all(0 <= x <= width and 0 <= y <= height for x, y in pts)

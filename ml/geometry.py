"""The one place where masks, polygons, COCO RLE, bboxes and areas are converted.

Conventions used everywhere in the project:

* Coordinates are image pixels, x to the right, y down. A pixel (col, row) covers the square
  [col, col+1) x [row, row+1); polygon vertices lie on pixel corners/edges, as in COCO.
* A *shape* is a MultiPolygon in GeoJSON order: ``[polygon, ...]`` where each polygon is
  ``[exterior_ring, hole_ring, ...]`` and each ring is ``[[x, y], ...]`` with at least three
  vertices. Rings are closed implicitly (the first vertex is not repeated).
  One instance may have several parts (an object split by an occluder stays one instance).
* Masks are ``numpy`` bool arrays of shape (height, width).
* RLE is COCO's compressed form: ``{"size": [height, width], "counts": "<str>"}``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence, Sized
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as coco_mask

Ring = list[list[float]]
Polygon = list[Ring]
Shape = list[Polygon]


class GeometryError(ValueError):
    """A shape that cannot be repaired; the message says why."""


# --------------------------------------------------------------------------- masks -> shapes


def mask_to_shape(mask: np.ndarray, *, tolerance: float = 0.0, min_area: float = 4.0) -> Shape:
    """Trace a bool mask into a MultiPolygon, keeping holes and separate parts.

    ``tolerance`` is the Douglas-Peucker epsilon in pixels (0 keeps every contour vertex).
    Parts and holes smaller than ``min_area`` square pixels are dropped as speckle.
    """
    return _contours_to_shape(_simplify(_trace(mask, min_area), tolerance))


# Traced outlines stay in OpenCV's form until the end: per part, int32 (N, 1, 2) contours through
# the centres of the boundary pixels, exterior first, then its holes.
_Contours = list[list[np.ndarray]]


def _trace(mask: np.ndarray, min_area: float) -> _Contours:
    """The mask's contours, parts and holes under ``min_area`` px (as polygons) dropped."""
    m = np.ascontiguousarray(mask, dtype=np.uint8)
    if m.ndim != 2:
        raise GeometryError(f"mask must be 2-D, got shape {mask.shape}")
    if not m.any():
        return []
    # RETR_CCOMP gives a two-level hierarchy: outer boundaries and the holes directly inside them.
    # CHAIN_APPROX_SIMPLE keeps only the ends of straight runs: the same polygon (and the same
    # Douglas-Peucker result, whose farthest points are always vertices) from a fraction of the
    # points. A one-pixel-wide straight line traces to 2 points, no polygon: it goes as speckle.
    contours, hierarchy = cv2.findContours(m, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    # The final ring adds half a pixel around the contour (see _contours_to_shape): its area is
    # area + perimeter / 2 + 1. A noisy mask has thousands of speckle contours, so the areas and
    # perimeters of all of them are computed in one vectorised pass.
    lengths = np.fromiter(map(len, contours), dtype=np.int64, count=len(contours))
    pts = np.concatenate(contours).reshape(-1, 2).astype(np.float64)
    rings = _Rings(lengths)
    nxt = pts[rings.next]
    area = np.abs(rings.twice_signed_areas(pts, nxt)) / 2
    perimeter = rings.sum(np.hypot(*(nxt - pts).T))
    big_enough = (lengths >= 3) & (area + 0.5 * perimeter + 1.0 >= min_area)
    parent = hierarchy[0][:, 3]  # -1 for an outer boundary, else the part a hole is in
    kept_hole = big_enough & (parent != -1)
    holes: dict[int, list[np.ndarray]] = {}
    for idx, part in zip(np.flatnonzero(kept_hole).tolist(), parent[kept_hole].tolist(), strict=True):
        holes.setdefault(part, []).append(contours[idx])
    return [
        [contours[idx], *holes.get(idx, [])] for idx in np.flatnonzero(big_enough & (parent == -1)).tolist()
    ]


def _simplify(parts: _Contours, tolerance: float) -> _Contours:
    """Douglas-Peucker (``tolerance`` px, 0 = none) on every contour; rings left under 3 vertices go."""
    if tolerance <= 0:
        return parts
    out: _Contours = []
    for part in parts:
        rings = [cv2.approxPolyDP(c, tolerance, True) if len(c) > 3 else c for c in part]
        if len(rings[0]) >= 3:
            out.append([rings[0], *[r for r in rings[1:] if len(r) >= 3]])
    return out


def _rasterise(parts: _Contours, height: int, width: int) -> np.ndarray:
    """The pixels ``parts`` cover, fast (cv2.fillPoly, even-odd over all rings, boundary pixels in).

    Exact for unsimplified contours (it reproduces the traced mask), and within a pixel of
    COCO's rasteriser on the final polygons for simplified ones.
    """
    out = np.zeros((height, width), dtype=np.uint8)
    cv2.fillPoly(out, [ring for part in parts for ring in part], 1)
    return out.view(bool)  # 0 / 1 bytes are valid bools: no copy


def _contours_to_shape(parts: _Contours, origin: tuple[float, float] = (0.0, 0.0)) -> Shape:
    """Contours through boundary-pixel centres -> rings on pixel edges (half a pixel outwards),
    shifted by ``origin`` (x, y).

    Pixel centres are at +0.5; pushing each ring half a pixel outwards (inwards for holes) makes
    the polygon cover whole pixels, so mask -> polygon -> mask is near-lossless. Every ring is
    moved in one vectorised pass: a noisy mask has hundreds of rings.
    """
    rings = [contour.reshape(-1, 2) for part in parts for contour in part]
    if not rings:
        return []
    lengths = np.array([len(r) for r in rings])
    distance = np.array([0.5 if i == 0 else -0.5 for part in parts for i in range(len(part))])
    moved = _offset_rings(np.concatenate(rings).astype(np.float64) + 0.5, lengths, distance)
    flat = np.round(moved + origin, 2).tolist()
    shape: Shape = []
    start = 0
    for part in parts:
        polygon = []
        for contour in part:
            polygon.append(flat[start : start + len(contour)])
            start += len(contour)
        shape.append(polygon)
    return shape


def _offset_rings(pts: np.ndarray, lengths: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Move each vertex ``distance`` px (per ring) along its outward normal (a cheap dilation).

    ``pts`` holds the rings one after another, ``lengths`` their vertex counts. The normal at a
    vertex bisects those of its two edges; the ring's orientation fixes which side is out.
    Rings of fewer than 3 vertices stay where they are.
    """
    rings = _Rings(lengths)
    prev_pts, next_pts = pts[rings.prev], pts[rings.next]
    sign = np.where(rings.twice_signed_areas(pts, next_pts) > 0, 1.0, -1.0) * np.where(
        lengths >= 3, distance, 0.0
    )
    e1, e2 = pts - prev_pts, next_pts - pts
    n1 = np.stack([e1[:, 1], -e1[:, 0]], axis=1)
    n2 = np.stack([e2[:, 1], -e2[:, 0]], axis=1)
    n1 /= np.maximum(np.linalg.norm(n1, axis=1, keepdims=True), 1e-9)
    n2 /= np.maximum(np.linalg.norm(n2, axis=1, keepdims=True), 1e-9)
    n = n1 + n2
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)
    return pts + sign[rings.ring, None] * n


class _Rings:
    """Index arithmetic for closed rings stored one after another in one array of points."""

    def __init__(self, lengths: np.ndarray) -> None:
        self.starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self.ring = np.repeat(np.arange(len(lengths)), lengths)  # each point's ring
        first, size = self.starts[self.ring], lengths[self.ring]
        pos = np.arange(int(lengths.sum())) - first
        self.prev = first + (pos - 1) % size  # each point's neighbours within its ring
        self.next = first + (pos + 1) % size

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Per-ring sums of a per-point quantity."""
        return np.add.reduceat(values, self.starts)

    def twice_signed_areas(self, pts: np.ndarray, next_pts: np.ndarray) -> np.ndarray:
        """Per-ring shoelace sums (2 x signed area); ``next_pts`` is ``pts[self.next]``."""
        return self.sum(pts[:, 0] * next_pts[:, 1] - next_pts[:, 0] * pts[:, 1])


def _signed_area(pts: np.ndarray) -> float:
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _ring_area(ring: Ring) -> float:
    return abs(_signed_area(np.asarray(ring, dtype=np.float64)))


TOLERANCES = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)  # px, tried by mask_to_shape_simplified
NOISY_TOLERANCES = (12.0, 16.0, 24.0, 32.0)  # px, for a noisy mask over its vertex budget


def mask_to_shape_simplified(
    mask: np.ndarray,
    *,
    min_iou: float = 0.98,
    max_tolerance: float = 8.0,
    max_noisy_vertices: int = 5000,
) -> tuple[Shape, float]:
    """The coarsest polygon whose IoU with ``mask`` stays >= ``min_iou``; returns (shape, iou with ``mask``).

    Works on the mask's bounding box (plus a margin), so the cost follows the object's size,
    not the image's. The mask is traced once; a binary search over ``TOLERANCES`` (up to
    ``max_tolerance``) then rasterises 3-4 candidates with ``_rasterise``. Parts and holes
    smaller than 1/2000 of the object (at least 4 px) are dropped as speckle: they cost
    thousands of vertices on a noisy mask and no annotator wants them. When dropping them
    already costs more than ``min_iou`` allows, tolerances are judged against the de-speckled
    outline instead (so a noisy mask still gets a simple polygon), and the polygon is held to
    ``max_noisy_vertices`` (coarser tolerances, then its smallest parts dropped): an editor
    cannot work with tens of thousands of vertices of noise. The returned IoU, against ``mask``
    itself, always says what it cost.
    """
    mask = np.asarray(mask, dtype=bool)
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if len(rows) == 0:
        return [], 0.0
    y0, x0 = max(rows[0] - 2, 0), max(cols[0] - 2, 0)
    crop = mask[y0 : rows[-1] + 3, x0 : cols[-1] + 3]
    h, w = crop.shape
    traced = _trace(crop, max(4.0, float(crop.sum()) / 2000))
    if not traced:
        return [], 0.0
    outline = _rasterise(traced, h, w)
    outline_iou = mask_iou(outline, crop)
    clean = outline_iou >= min_iou
    tolerances = [t for t in TOLERANCES if t <= max_tolerance]
    passed = [(traced, outline_iou)]  # candidates that passed with their IoU with ``crop``, coarsest last
    lo, hi = 0, len(tolerances) - 1  # binary search for the coarsest tolerance that passes
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = _simplify(traced, tolerances[mid])
        raster = _rasterise(candidate, h, w) if candidate else None
        iou = mask_iou(raster, crop) if raster is not None else 0.0
        # A clean mask is the reference itself; a noisy one is judged against its de-speckled outline.
        if raster is not None and (iou if clean else mask_iou(raster, outline)) >= min_iou:
            passed.append((candidate, iou))
            lo = mid + 1
        else:
            hi = mid - 1
    origin = (float(x0), float(y0))
    if not clean:  # no guarantee to keep: the fast estimate is the IoU reported
        picked, iou = passed[-1]
        if shape_vertex_count(picked) > max_noisy_vertices:
            picked = _within_vertex_budget(traced, max_noisy_vertices)
            iou = mask_iou(_rasterise(picked, h, w), crop) if picked else 0.0
        return _contours_to_shape(picked, origin), iou
    # The fast rasteriser is within a pixel of COCO's; check the pick exactly, step back if needed.
    for candidate, _ in reversed(passed[1:]):
        shape = _contours_to_shape(candidate, origin)
        iou = mask_iou(shape_to_mask(shape, y0 + h, x0 + w)[y0:, x0:], crop)
        if iou >= min_iou:
            return shape, iou
    return _contours_to_shape(passed[0][0], origin), passed[0][1]


def _within_vertex_budget(traced: _Contours, budget: int) -> _Contours:
    """``traced`` simplified at ``NOISY_TOLERANCES`` until at most ``budget`` vertices remain;
    past the coarsest, the largest parts (with their holes) that fit."""
    for tolerance in NOISY_TOLERANCES:
        parts = _simplify(traced, tolerance)
        if shape_vertex_count(parts) <= budget:
            return parts
    kept, total = [], 0
    for part in sorted(parts, key=lambda p: cv2.contourArea(p[0]), reverse=True):
        if total + len(part[0]) > budget:
            continue
        rings = [part[0]]
        total += len(part[0])
        for hole in part[1:]:
            if total + len(hole) <= budget:
                rings.append(hole)
                total += len(hole)
        kept.append(rings)
    return kept


# --------------------------------------------------------------------------- shapes -> masks


def shape_to_mask(shape: Shape, height: int, width: int) -> np.ndarray:
    """Rasterise a MultiPolygon (holes subtracted) to a bool mask, using COCO's rasteriser."""
    if not shape:
        return np.zeros((height, width), dtype=bool)
    # Our own RLE needs none of rle_to_mask's checks for untrusted input: decode it in C.
    exteriors = coco_mask.frPyObjects([_flat(poly[0]) for poly in shape], height, width)
    mask = coco_mask.decode(coco_mask.merge(exteriors)).astype(bool)
    holes = [_flat(ring) for poly in shape for ring in poly[1:]]
    if holes:
        mask &= ~coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects(holes, height, width))).astype(bool)
    return mask


def shape_to_rle(shape: Shape, height: int, width: int) -> dict[str, Any]:
    """Compressed RLE of a MultiPolygon: union of exteriors minus union of holes."""
    exteriors = [_flat(poly[0]) for poly in shape]
    holes = [_flat(ring) for poly in shape for ring in poly[1:]]
    outer = coco_mask.merge(coco_mask.frPyObjects(exteriors, height, width))
    if holes:
        # outer AND NOT inner, in run-length space: no full-size mask is ever decoded.
        inner = coco_mask.merge(coco_mask.frPyObjects(holes, height, width))
        return _jsonable_rle(coco_mask.merge([outer, _rle_complement(inner, height, width)], intersect=True))
    return _jsonable_rle(outer)


def _rle_complement(rle: dict[str, Any], height: int, width: int) -> dict[str, Any]:
    """The inverted mask of a compressed RLE: runs start with zeros, so shift by one empty run."""
    counts = _decode_compressed_counts(rle["counts"])
    counts = counts[1:] if counts and counts[0] == 0 else [0, *counts]
    return coco_mask.frPyObjects({"size": [height, width], "counts": counts}, height, width)


def _flat(ring: Ring) -> list[float]:
    return [float(c) for xy in ring for c in xy]


# --------------------------------------------------------------------------- RLE


def mask_to_rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO compressed RLE with ``counts`` as a str (JSON-safe)."""
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return _jsonable_rle(rle)


def _jsonable_rle(rle: dict[str, Any]) -> dict[str, Any]:
    counts = rle["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": counts}


def rle_to_mask(rle: dict[str, Any]) -> np.ndarray:
    """Decode compressed (str/bytes counts) or uncompressed (list counts) RLE to a bool mask."""
    try:
        size = [int(v) for v in rle["size"]]
        counts = rle["counts"]
    except (KeyError, TypeError, ValueError) as exc:
        raise GeometryError(f"RLE needs 'size' [h, w] and 'counts': {exc}") from exc
    if len(size) != 2 or size[0] <= 0 or size[1] <= 0:
        raise GeometryError(f"RLE size must be two positive integers, got {rle.get('size')}")
    h, w = size
    if isinstance(counts, list):
        if any((not isinstance(c, int)) or c < 0 for c in counts):
            raise GeometryError("uncompressed RLE counts must be non-negative integers")
        if sum(counts) != h * w:
            raise GeometryError(f"RLE counts sum to {sum(counts)}, expected {h}*{w}={h * w}")
        compressed = coco_mask.frPyObjects({"size": size, "counts": counts}, h, w)
    elif isinstance(counts, str | bytes):
        raw = counts.encode("ascii") if isinstance(counts, str) else counts
        compressed = {"size": size, "counts": raw}
        _check_compressed_counts(raw, h * w)
    else:
        raise GeometryError(f"RLE counts must be a list or a string, got {type(counts).__name__}")
    return coco_mask.decode(compressed).astype(bool)


def _check_compressed_counts(raw: bytes, total: int) -> None:
    """Decode COCO's LEB128-like counts in Python so corrupt input fails loudly, not in C."""
    counts = _decode_compressed_counts(raw)
    if sum(counts) != total:
        raise GeometryError(f"RLE counts cover {sum(counts)} pixels, the image has {total}")


def _decode_compressed_counts(raw: bytes | str) -> list[int]:
    """COCO's compressed counts string as the list of run lengths; raises on corrupt input."""
    if isinstance(raw, str):
        raw = raw.encode("ascii")
    counts: list[int] = []
    p = 0
    while p < len(raw):
        x, k, more = 0, 0, True
        while more:
            if p >= len(raw):
                raise GeometryError("compressed RLE counts are truncated")
            c = raw[p] - 48
            if c < 0 or c > 63:
                raise GeometryError("compressed RLE counts contain an invalid character")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        if x < 0:
            raise GeometryError("compressed RLE counts decode to a negative run")
        counts.append(x)
    return counts


# --------------------------------------------------------------------------- resolution changes


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


def resize_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """A bool mask resampled to (``height``, ``width``): bilinear between pixel centres, kept where >= 1/2.

    The region agrees with ``scale_shape`` of the mask's polygon (a boundary between a pixel
    out and a pixel in lies at their shared corner line, at 1/2), with corners smoothed
    rather than blocky when upsampling. Only the mask's bounding box is resampled, so an
    object's cost follows its size at the new resolution, not the whole image's.
    """
    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape
    out = np.zeros((height, width), dtype=bool)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return out
    sx, sy = width / w, height / h
    # The source box with a one-pixel margin of background, and the output box its corners map to.
    x0, x1 = max(int(cols[0]) - 1, 0), min(int(cols[-1]) + 2, w)
    y0, y1 = max(int(rows[0]) - 1, 0), min(int(rows[-1]) + 2, h)
    ox0, ox1 = math.floor(x0 * sx), min(math.ceil(x1 * sx), width)
    oy0, oy1 = math.floor(y0 * sy), min(math.ceil(y1 * sy), height)
    # Output pixel X (centre X + 0.5) samples the source at (X + 0.5) / sx - 0.5, as cv2.resize does.
    inverse = np.array(
        [[1 / sx, 0.0, (ox0 + 0.5) / sx - 0.5 - x0], [0.0, 1 / sy, (oy0 + 0.5) / sy - 0.5 - y0]]
    )
    crop = mask[y0:y1, x0:x1].astype(np.uint8) * np.uint8(255)
    warped = cv2.warpAffine(
        crop,
        inverse,
        (ox1 - ox0, oy1 - oy0),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    out[oy0:oy1, ox0:ox1] = warped >= 128
    return out


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
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    inter = np.count_nonzero(a & b)  # counting set bytes is ~6x faster than summing bools
    union = np.count_nonzero(a) + np.count_nonzero(b) - inter
    return float(inter / union) if union else 1.0


# --------------------------------------------------------------------------- validation


def clean_shape(raw: Any, *, width: int, height: int, label: str = "shape") -> Shape:
    """Validate and repair a user-supplied MultiPolygon.

    Coordinates are clipped to the image, self-intersections are repaired with shapely's
    ``make_valid``. Raises ``GeometryError`` naming ``label`` and the reason when the input
    is malformed or nothing of it lies inside the image.
    """
    from shapely.geometry import MultiPolygon
    from shapely.geometry import Polygon as ShapelyPolygon
    from shapely.validation import make_valid

    if not isinstance(raw, list) or not raw:
        raise GeometryError(f"{label}: expected a non-empty list of polygons")
    polys = []
    for pi, poly in enumerate(raw):
        if not isinstance(poly, list) or not poly:
            raise GeometryError(f"{label}: polygon {pi} must be a non-empty list of rings")
        rings = []
        for ri, ring in enumerate(poly):
            rings.append(_parse_ring(ring, f"{label}: polygon {pi} ring {ri}"))
        polys.append(ShapelyPolygon(rings[0], rings[1:]))
    geom = MultiPolygon(polys) if len(polys) > 1 else polys[0]
    bounds = _image_box(width, height)
    if geom.is_valid and bounds.covers(geom) and geom.area > 0:
        # Nothing to repair: keep the person's vertices and their order exactly.
        return [[_ring_coords(ring) for ring in poly] for poly in raw]
    geom = make_valid(geom)
    geom = geom.intersection(bounds)
    parts = _polygons_of(geom)
    if not parts:
        raise GeometryError(f"{label}: has no area inside the {width}x{height} image")
    out: Shape = []
    for part in parts:
        ext = _ring_coords(part.exterior.coords)
        holes = [_ring_coords(i.coords) for i in part.interiors]
        out.append([ext, *[h for h in holes if len(h) >= 3]])
    return out


@lru_cache(maxsize=64)
def _image_box(width: int, height: int) -> Any:
    from shapely.geometry import box

    return box(0, 0, width, height)  # immutable, so one per image size serves every call


def _parse_ring(ring: Any, label: str) -> list[tuple[float, float]]:
    if not isinstance(ring, list):
        raise GeometryError(f"{label}: must be a list of [x, y] points")
    pts: list[tuple[float, float]] = []
    for point in ring:
        if not (
            isinstance(point, list | tuple)
            and len(point) == 2
            and _finite_number(point[0])
            and _finite_number(point[1])
        ):
            raise GeometryError(f"{label}: every point must be [x, y] with finite numbers")
        pts.append((float(point[0]), float(point[1])))
    if len({p for p in pts}) < 3:
        raise GeometryError(f"{label}: needs at least 3 distinct points, got {len(set(pts))}")
    return pts


def _finite_number(value: Any) -> bool:
    """A JSON number that is a finite float (not a bool, not an int too large for a float)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _polygons_of(geom: Any) -> list[Any]:
    kind = geom.geom_type
    if kind == "Polygon":
        return [geom] if geom.area > 0 else []
    if kind in ("MultiPolygon", "GeometryCollection"):
        return [p for g in geom.geoms for p in _polygons_of(g)]
    return []


def _ring_coords(coords: Any) -> Ring:
    pts = [[round(float(x), 2), round(float(y), 2)] for x, y in coords]
    if len(pts) > 1 and pts[0] == pts[-1]:
        pts = pts[:-1]
    return pts


def shape_to_coco_polygons(shape: Shape) -> list[list[float]]:
    """Flat COCO polygon lists, exteriors only (COCO polygon mode cannot express holes)."""
    return [_flat(poly[0]) for poly in shape]


def shape_has_holes(shape: Shape) -> bool:
    return any(len(poly) > 1 for poly in shape)


# --------------------------------------------------------------------------- COCO segmentations in


class SegmentationError(GeometryError):
    """A COCO segmentation that cannot be used; ``code`` names the kind of problem.

    Codes: ``bad_polygon``, ``bad_rle``, ``out_of_bounds``, ``empty_segmentation``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def coco_segmentation_to_shape(
    segmentation: Any, *, width: int, height: int, label: str = "segmentation"
) -> tuple[Shape, list[str]]:
    """Read a COCO ``segmentation`` (polygon lists, or RLE with list or string counts) as a shape.

    Polygon lists are unioned (COCO's meaning of several rings in one annotation) and clipped
    to the image; RLE must have ``size == [height, width]`` and is traced with holes kept.
    Returns ``(shape, notes)``: notes say what was repaired (``"clipped"``, ``"repaired"``).
    Raises ``SegmentationError`` naming ``label`` and the reason.
    """
    if isinstance(segmentation, dict):
        return _coco_rle_to_shape(segmentation, width=width, height=height, label=label), []
    if isinstance(segmentation, list):
        return _coco_polygons_to_shape(segmentation, width=width, height=height, label=label)
    raise SegmentationError(
        "bad_polygon",
        f"{label}: must be a list of polygons or an RLE object, got {type(segmentation).__name__}",
    )


def _coco_rle_to_shape(rle: dict[str, Any], *, width: int, height: int, label: str) -> Shape:
    size = rle.get("size")
    if (
        isinstance(size, list | tuple)
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in size)
        and list(size) != [height, width]
    ):
        raise SegmentationError(
            "out_of_bounds",
            f"{label}: RLE size {list(size)} (h, w) does not match the image's [{height}, {width}]",
        )
    try:
        mask = rle_to_mask(rle)
    except GeometryError as exc:
        raise SegmentationError("bad_rle", f"{label}: {exc}") from exc
    if not mask.any():
        raise SegmentationError("empty_segmentation", f"{label}: the RLE mask is empty")
    shape = mask_to_shape(mask, min_area=1.0)
    if not shape:
        raise SegmentationError("empty_segmentation", f"{label}: the RLE mask is too small to trace (< 2 px)")
    return shape


def _coco_polygons_to_shape(
    polygons: list[Any], *, width: int, height: int, label: str
) -> tuple[Shape, list[str]]:
    from shapely.geometry import Polygon as ShapelyPolygon
    from shapely.geometry import box
    from shapely.ops import unary_union
    from shapely.validation import make_valid

    if not polygons:
        raise SegmentationError("empty_segmentation", f"{label}: no polygons")
    parts = []
    notes: list[str] = []
    for index, flat in enumerate(polygons):
        where = f"{label}[{index}]"
        if (
            not isinstance(flat, list)
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in flat)
            or not all(np.isfinite(flat))
        ):
            raise SegmentationError(
                "bad_polygon", f"{where}: must be a flat list of numbers [x1, y1, x2, y2, ...]"
            )
        if len(flat) % 2:
            raise SegmentationError("bad_polygon", f"{where}: has an odd number of coordinates ({len(flat)})")
        pts = list(zip(flat[0::2], flat[1::2], strict=True))
        if len(set(pts)) < 3:
            raise SegmentationError(
                "bad_polygon", f"{where}: needs at least 3 distinct points, got {len(set(pts))}"
            )
        poly = ShapelyPolygon(pts)
        if not poly.is_valid:
            poly = make_valid(poly)
            if "repaired" not in notes:
                notes.append("repaired")
        parts.append(poly)
    geom = unary_union(parts)
    if geom.area <= 0:
        raise SegmentationError("bad_polygon", f"{label}: the polygons have no area")
    x0, y0, x1, y1 = geom.bounds
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        geom = geom.intersection(box(0, 0, width, height))
        if geom.area <= 0:
            raise SegmentationError(
                "out_of_bounds", f"{label}: lies entirely outside the {width}x{height} image"
            )
        notes.append("clipped")
    shape = _shape_of(geom)
    if not shape:
        raise SegmentationError("bad_polygon", f"{label}: the polygons have no area")
    return shape, notes


def _shape_of(geom: Any) -> Shape:
    out: Shape = []
    for part in _polygons_of(geom):
        ext = _ring_coords(part.exterior.coords)
        if len(ext) < 3:
            continue
        holes = [_ring_coords(i.coords) for i in part.interiors]
        out.append([ext, *[h for h in holes if len(h) >= 3]])
    return out


def bbox_to_shape(bbox: Any, *, width: int, height: int, label: str = "bbox") -> Shape:
    """A rectangle shape from a COCO bbox [x, y, w, h], clipped to the image."""
    if (
        not isinstance(bbox, list | tuple)
        or len(bbox) != 4
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in bbox)
        or not all(np.isfinite(bbox))
    ):
        raise SegmentationError("bad_polygon", f"{label}: must be [x, y, width, height] with finite numbers")
    x, y, w, h = (float(v) for v in bbox)
    if w <= 0 or h <= 0:
        raise SegmentationError("bad_polygon", f"{label}: width and height must be positive")
    shape, _ = _coco_polygons_to_shape(
        [[x, y, x + w, y, x + w, y + h, x, y + h]], width=width, height=height, label=label
    )
    return shape


def shape_within_image(shape: Shape, *, width: int, height: int) -> bool:
    """True when every vertex lies inside [0, width] x [0, height]."""
    pts = [xy for poly in shape for ring in poly for xy in ring]
    return all(0 <= x <= width and 0 <= y <= height for x, y in pts)

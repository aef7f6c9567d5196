"""Masks -> shapes: tracing a bool mask into a MultiPolygon, and the coarsest polygon that keeps an IoU."""

from __future__ import annotations

import cv2
import numpy as np

from ml.geometry.raster import shape_to_mask
from ml.geometry.shape import GeometryError, Shape, mask_iou, shape_vertex_count


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

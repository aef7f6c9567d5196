"""Shapes -> masks and COCO RLE, RLE <-> masks, and masks resampled to another resolution."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as coco_mask

from ml.geometry.shape import GeometryError, Shape, _flat


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


def shape_iou_matrix(a: list[Shape], b: list[Shape], height: int, width: int) -> np.ndarray:
    """Mask IoU of every shape in ``a`` with every shape in ``b`` (len(a) x len(b)), computed on
    COCO RLE: no full-size mask is decoded, so a 12 MP photo costs what its outlines cost."""
    if not a or not b:
        return np.zeros((len(a), len(b)))
    rles_a = [shape_to_rle(s, height, width) if s else _empty_rle(height, width) for s in a]
    rles_b = [shape_to_rle(s, height, width) if s else _empty_rle(height, width) for s in b]
    ious = coco_mask.iou(rles_a, rles_b, [0] * len(rles_b))
    return np.asarray(ious, dtype=np.float64).reshape(len(a), len(b))


def box_iou_matrix(
    boxes: Sequence[Sequence[float]] | np.ndarray, other: Sequence[Sequence[float]] | np.ndarray
) -> np.ndarray:
    """IoU of every box in ``boxes`` with every box in ``other`` (len x len), COCO ``[x, y, w, h]``:
    pycocotools' box IoU, as COCOeval computes it (no crowd regions)."""
    if not len(boxes) or not len(other):
        return np.zeros((len(boxes), len(other)))
    ious = coco_mask.iou(
        np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        np.asarray(other, dtype=np.float64).reshape(-1, 4),
        [0] * len(other),
    )
    return np.asarray(ious, dtype=np.float64).reshape(len(boxes), len(other))


def greedy_matches(ious: np.ndarray, iou_threshold: float) -> np.ndarray:
    """COCOeval's greedy one-to-one matching: row by row, in the order given (best first), the still
    unmatched column that row overlaps most, if at IoU ``iou_threshold`` or more. Returns each row's
    column, or -1 for a row left unmatched."""
    matched = np.full(ious.shape[0], -1, dtype=np.int64)
    taken = np.zeros(ious.shape[1], dtype=bool)
    for i in range(ious.shape[0] if ious.shape[1] else 0):
        free = np.where(taken, -1.0, ious[i])
        j = int(np.argmax(free))
        if free[j] >= iou_threshold:
            taken[j], matched[i] = True, j
    return matched


def _empty_rle(height: int, width: int) -> dict[str, Any]:
    return _jsonable_rle(
        coco_mask.frPyObjects({"size": [height, width], "counts": [height * width]}, height, width)
    )


def _rle_complement(rle: dict[str, Any], height: int, width: int) -> dict[str, Any]:
    """The inverted mask of a compressed RLE: runs start with zeros, so shift by one empty run."""
    counts = _decode_compressed_counts(rle["counts"])
    counts = counts[1:] if counts and counts[0] == 0 else [0, *counts]
    return coco_mask.frPyObjects({"size": [height, width], "counts": counts}, height, width)


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

"""COCO segmentations in: polygon lists, RLE and bboxes read as shapes, with a coded error when unusable."""

from __future__ import annotations

from typing import Any

import numpy as np

from ml.geometry.raster import rle_to_mask
from ml.geometry.repair import _polygons_of, _ring_coords
from ml.geometry.shape import GeometryError, Shape
from ml.geometry.trace import mask_to_shape


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

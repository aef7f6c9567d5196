"""Validation and repair of user-supplied MultiPolygons (clipped to the image, made valid with shapely)."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from ml.geometry.shape import GeometryError, Ring, Shape


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

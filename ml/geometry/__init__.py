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

The package is split by direction: :mod:`~ml.geometry.trace` (masks -> shapes),
:mod:`~ml.geometry.raster` (shapes -> masks and RLE), :mod:`~ml.geometry.repair` (user shapes
validated), :mod:`~ml.geometry.coco` (COCO segmentations in) and :mod:`~ml.geometry.shape`
(the types and measures the others share). Import from ``ml.geometry``.
"""

from ml.geometry.coco import SegmentationError, bbox_to_shape, coco_segmentation_to_shape
from ml.geometry.raster import (
    box_iou_matrix,
    greedy_matches,
    mask_to_rle,
    resize_mask,
    rle_to_mask,
    shape_iou_matrix,
    shape_to_mask,
    shape_to_rle,
)
from ml.geometry.repair import clean_shape
from ml.geometry.shape import (
    GeometryError,
    Polygon,
    Ring,
    Shape,
    mask_bbox,
    mask_iou,
    scale_shape,
    shape_area,
    shape_area_bbox,
    shape_bbox,
    shape_has_holes,
    shape_to_coco_polygons,
    shape_vertex_count,
    shape_within_image,
)
from ml.geometry.trace import NOISY_TOLERANCES, TOLERANCES, mask_to_shape, mask_to_shape_simplified

__all__ = [
    "NOISY_TOLERANCES",
    "TOLERANCES",
    "GeometryError",
    "Polygon",
    "Ring",
    "SegmentationError",
    "Shape",
    "bbox_to_shape",
    "box_iou_matrix",
    "clean_shape",
    "coco_segmentation_to_shape",
    "greedy_matches",
    "mask_bbox",
    "mask_iou",
    "mask_to_rle",
    "mask_to_shape",
    "mask_to_shape_simplified",
    "resize_mask",
    "rle_to_mask",
    "scale_shape",
    "shape_area",
    "shape_iou_matrix",
    "shape_area_bbox",
    "shape_bbox",
    "shape_has_holes",
    "shape_to_coco_polygons",
    "shape_to_mask",
    "shape_to_rle",
    "shape_vertex_count",
    "shape_within_image",
]

"""A COCO annotation's segmentation (polygons, RLE, our multipolygon, or only a bbox) as one clean shape.

Problems are reported, not raised: a shape that cannot be used skips its annotation, a repaired
one is imported with a warning.
"""

from __future__ import annotations

from typing import Any

from ml import geometry

from .coco_plan import PlannedImage, Problems


def shape_of(ann: dict[str, Any], image: PlannedImage, problems: Problems) -> geometry.Shape | None:
    ann_id = ann["id"]
    label = f"annotation {ann_id}"
    w, h = image.width, image.height
    seg = ann.get("segmentation")
    try:
        if ann.get("multipolygon") is not None:
            exact = _exact_shape(ann, w, h, label, problems)
            if exact is not None:
                return exact
        if seg is None or seg == [] or seg == {}:
            if ann.get("bbox") is None:
                problems.add(
                    "error",
                    "empty_segmentation",
                    f"{label} has neither a segmentation nor a bbox",
                    annotation_id=ann_id,
                    image_id=image.coco_id,
                )
                return None
            shape = geometry.bbox_to_shape(ann["bbox"], width=w, height=h, label=f"{label} bbox")
            problems.add(
                "note",
                "bbox_only",
                f"{label} has an empty segmentation; its bbox is imported as a rectangle",
                annotation_id=ann_id,
                image_id=image.coco_id,
                action="converted",
            )
            return shape
        shape, notes = geometry.coco_segmentation_to_shape(seg, width=w, height=h, label=label)
    except geometry.SegmentationError as exc:
        problems.add("error", exc.code, str(exc), annotation_id=ann_id, image_id=image.coco_id)
        return None
    if "clipped" in notes:
        problems.add(
            "warning",
            "out_of_bounds",
            f"{label} reaches outside the {w}x{h} image; clipped to it",
            annotation_id=ann_id,
            image_id=image.coco_id,
        )
    if "repaired" in notes:
        problems.add(
            "warning",
            "bad_polygon",
            f"{label} has a self-intersecting polygon; repaired",
            annotation_id=ann_id,
            image_id=image.coco_id,
        )
    return shape


def _exact_shape(ann, w: int, h: int, label: str, problems: Problems) -> geometry.Shape | None:
    """This app's own ``multipolygon`` extension (holes in polygon mode), if it agrees with the RLE."""
    try:
        shape = geometry.clean_shape(ann["multipolygon"], width=w, height=h, label=f"{label} multipolygon")
        seg = ann.get("segmentation")
        if seg:
            seg_shape, _ = geometry.coco_segmentation_to_shape(seg, width=w, height=h, label=label)
            iou = geometry.mask_iou(
                geometry.shape_to_mask(shape, h, w), geometry.shape_to_mask(seg_shape, h, w)
            )
            if iou < 0.9:
                raise geometry.GeometryError(
                    f"{label}: 'multipolygon' disagrees with 'segmentation' (IoU {iou:.2f})"
                )
        return shape
    except geometry.GeometryError as exc:
        problems.add(
            "warning",
            "bad_polygon",
            f"{exc}; the segmentation is used instead",
            annotation_id=ann["id"],
            image_id=ann.get("image_id"),
        )
        return None

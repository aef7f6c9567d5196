"""ml.geometry: masks <-> shapes <-> COCO RLE, measures, repair of user shapes, COCO segmentations in."""

from __future__ import annotations

import numpy as np
import pytest

from ml import geometry


def ring_mask() -> np.ndarray:
    """A 40 x 50 mask: a square with a square hole, and a separate bar."""
    mask = np.zeros((40, 50), dtype=bool)
    mask[4:24, 4:24] = True
    mask[10:16, 10:16] = False
    mask[28:34, 30:46] = True
    return mask


def test_a_mask_traced_to_a_shape_rasterises_back_to_itself_with_its_hole_and_both_parts():
    mask = ring_mask()
    shape = geometry.mask_to_shape(mask)
    assert len(shape) == 2 and geometry.shape_has_holes(shape)
    assert np.array_equal(geometry.shape_to_mask(shape, 40, 50), mask)
    assert geometry.shape_area(shape) == pytest.approx(mask.sum(), rel=0.05)  # corners are cut a little
    assert geometry.shape_within_image(shape, width=50, height=40)


def test_a_simplified_shape_keeps_the_asked_iou_with_fewer_vertices():
    yy, xx = np.mgrid[:120, :160]
    disk = (xx - 80) ** 2 + (yy - 60) ** 2 < 45**2
    exact = geometry.mask_to_shape(disk)
    simple, iou = geometry.mask_to_shape_simplified(disk, min_iou=0.97)
    assert iou >= 0.97
    assert geometry.mask_iou(geometry.shape_to_mask(simple, 120, 160), disk) == pytest.approx(iou, abs=1e-6)
    assert geometry.shape_vertex_count(simple) < geometry.shape_vertex_count(exact)
    assert geometry.mask_to_shape_simplified(np.zeros((8, 8), bool)) == ([], 0.0)


def test_rle_round_trips_and_a_shapes_rle_is_its_masks_rle():
    mask = ring_mask()
    rle = geometry.mask_to_rle(mask)
    assert isinstance(rle["counts"], str) and rle["size"] == [40, 50]
    assert np.array_equal(geometry.rle_to_mask(rle), mask)
    shape = geometry.mask_to_shape(mask)
    assert np.array_equal(geometry.rle_to_mask(geometry.shape_to_rle(shape, 40, 50)), mask)


@pytest.mark.parametrize(
    "rle, reason",
    [
        ({"size": [4, 4]}, "needs 'size'"),
        ({"size": [4, 4], "counts": [3, 3]}, "sum to 6"),
        ({"size": [4, 4], "counts": "!!"}, "invalid character"),
        ({"size": [0, 4], "counts": []}, "two positive integers"),
    ],
)
def test_a_corrupt_rle_raises_a_geometry_error_saying_why(rle, reason):
    with pytest.raises(geometry.GeometryError, match=reason):
        geometry.rle_to_mask(rle)


def test_measures_of_a_shape_agree_with_each_other_and_with_the_mask():
    mask = ring_mask()
    shape = geometry.mask_to_shape(mask)
    area, bbox = geometry.shape_area_bbox(shape)
    assert area == pytest.approx(geometry.shape_area(shape), abs=0.01)
    assert bbox == geometry.shape_bbox(shape)
    assert geometry.mask_bbox(mask) == [4.0, 4.0, 42.0, 30.0]
    scattered = np.zeros((20, 30), np.uint8)
    scattered[3, 25] = scattered[17, 2] = 1  # two lone pixels span the box
    assert geometry.mask_bbox(scattered) == [2.0, 3.0, 24.0, 15.0]
    assert geometry.mask_bbox(np.zeros((5, 5), bool)) == [0.0, 0.0, 0.0, 0.0]
    assert bbox == pytest.approx([4.0, 4.0, 42.0, 30.0], abs=0.5)  # the traced corners are cut a little
    assert geometry.shape_to_coco_polygons(shape)[0][:2] == [float(c) for c in shape[0][0][0]]
    assert geometry.mask_iou(mask, mask) == 1.0 and geometry.mask_iou(mask, ~mask) == 0.0


def test_a_shape_scaled_by_two_covers_its_mask_upscaled_by_two():
    mask = np.zeros((10, 12), dtype=bool)
    mask[2:5, 3:9] = True
    mask[6:9, 1:3] = True
    doubled = np.kron(mask, np.ones((2, 2), dtype=bool))
    assert np.array_equal(
        geometry.shape_to_mask(geometry.scale_shape(geometry.mask_to_shape(mask), 2, 2), 20, 24), doubled
    )
    assert np.array_equal(geometry.resize_mask(mask, 20, 24), doubled)
    assert geometry.scale_shape([[[[0, 0], [12, 0], [12, 10]]]], 0.5, 2) == [[[[0, 0], [6, 0], [6, 20]]]]


def test_clean_shape_keeps_a_valid_shape_exactly_and_repairs_a_bow_tie_and_clips_to_the_image():
    square = [[[[1, 1], [9, 1], [9, 9], [1, 9]]]]
    assert geometry.clean_shape(square, width=10, height=10) == square
    bow_tie = [[[[0, 0], [8, 8], [8, 0], [0, 8]]]]
    repaired = geometry.clean_shape(bow_tie, width=10, height=10)
    assert len(repaired) == 2 and geometry.shape_area(repaired) == pytest.approx(32)
    clipped = geometry.clean_shape([[[[-5, -5], [5, -5], [5, 5], [-5, 5]]]], width=10, height=10)
    assert geometry.shape_within_image(clipped, width=10, height=10)
    assert geometry.shape_area(clipped) == pytest.approx(25)


@pytest.mark.parametrize(
    "raw, reason",
    [
        ([], "non-empty list of polygons"),
        ([[[[0, 0], [1, 1]]]], "polygon 0 ring 0: needs at least 3 distinct points"),
        ([[[[0, 0], [1, "x"], [2, 0]]]], "finite numbers"),
        ([[[[20, 20], [30, 20], [30, 30]]]], "no area inside the 10x10 image"),
    ],
)
def test_clean_shape_rejects_what_it_cannot_repair_naming_the_shape(raw, reason):
    with pytest.raises(geometry.GeometryError, match=f"box 3.*{reason}"):
        geometry.clean_shape(raw, width=10, height=10, label="box 3")


def test_coco_polygons_are_unioned_and_clipped_and_rle_is_traced_with_its_holes():
    shape, notes = geometry.coco_segmentation_to_shape(
        [[0, 0, 6, 0, 6, 6, 0, 6], [4, 4, 12, 4, 12, 12, 4, 12]], width=10, height=10
    )
    assert notes == ["clipped"] and len(shape) == 1
    assert geometry.shape_area(shape) == pytest.approx(36 + 36 - 4)
    rle = geometry.mask_to_rle(ring_mask())
    traced, notes = geometry.coco_segmentation_to_shape(rle, width=50, height=40)
    assert notes == [] and geometry.shape_has_holes(traced)
    rectangle = geometry.bbox_to_shape([2, 3, 4, 5], width=10, height=10)
    assert geometry.shape_bbox(rectangle) == [2, 3, 4, 5] and geometry.shape_area(rectangle) == 20


@pytest.mark.parametrize(
    "segmentation, code",
    [
        ([[0, 0, 1, 1, 2]], "bad_polygon"),
        ([[20, 20, 30, 20, 30, 30]], "out_of_bounds"),
        ({"size": [5, 5], "counts": [25]}, "out_of_bounds"),
        ({"size": [10, 10], "counts": "!!"}, "bad_rle"),
        ({"size": [10, 10], "counts": [100]}, "empty_segmentation"),
        ("nonsense", "bad_polygon"),
    ],
)
def test_an_unusable_coco_segmentation_raises_with_a_code(segmentation, code):
    with pytest.raises(geometry.SegmentationError) as caught:
        geometry.coco_segmentation_to_shape(segmentation, width=10, height=10, label="annotation 7")
    assert caught.value.code == code and "annotation 7" in str(caught.value)

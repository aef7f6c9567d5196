"""Real-tool quirks, each with a file the test writes: category id 0, bbox-only annotations,
RLE counts as a list or a string, keypoints, and extra fields."""

import json

import numpy as np
import pytest

from ml import geometry

from .coco_helpers import add_image, categories, post_import


def write_coco(tmp_path, coco) -> bytes:
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(coco))
    return path.read_bytes()


def accept(client, response) -> None:
    assert response.status_code == 201, response.json()
    accepted = client.post(f"/api/v1/imports/{response.json()['id']}/accept")
    assert accepted.status_code == 200 and accepted.json()["status"] == "succeeded"


def one_image(file_name="quirk.png"):
    return [{"id": 1, "file_name": file_name, "width": 64, "height": 48}]


@pytest.mark.django_db
def test_coco_quirk_category_id_zero_is_a_real_class(project, users, client_for, tmp_path):
    image = add_image(project, users["admin"], seed=50, name="quirk.png")
    coco = {
        "images": one_image(),
        "categories": [{"id": 0, "name": "envelope"}, {"id": 1, "name": "item"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 0, "segmentation": [[2, 2, 12, 2, 12, 12]]},
            {"id": 2, "image_id": 1, "category_id": 1, "segmentation": [[20, 20, 30, 20, 30, 30]]},
        ],
    }
    response = post_import(client_for("admin"), project, None, raw=write_coco(tmp_path, coco))
    preview = {p["coco_id"]: p for p in response.json()["report"]["category_mapping_preview"]}
    assert preview[0]["action"] == "map" and preview[0]["category_name"] == "envelope"
    assert preview[0]["annotations"] == 1
    accept(client_for("admin"), response)
    names = sorted(image.annotations.values_list("category__name", flat=True))
    assert names == ["envelope", "item"]


@pytest.mark.django_db
def test_coco_quirk_category_id_zero_is_created_with_export_id_zero(project, users, client_for, tmp_path):
    image = add_image(project, users["admin"], seed=51, name="quirk.png")
    coco = {
        "images": one_image(),
        "categories": [{"id": 0, "name": "tote"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 0, "segmentation": [[2, 2, 12, 2, 12, 12]]}],
    }
    response = post_import(
        client_for("admin"), project, None, raw=write_coco(tmp_path, coco), create_categories="true"
    )
    assert response.json()["report"]["plan"]["categories_created"] == [{"name": "tote", "export_id": 0}]
    accept(client_for("admin"), response)
    tote = categories(project)["tote"]
    assert tote.export_id == 0 and image.annotations.get().category == tote


@pytest.mark.django_db
def test_coco_quirk_empty_segmentation_with_only_a_bbox_becomes_a_rectangle(
    project, users, client_for, tmp_path
):
    image = add_image(project, users["admin"], seed=52, name="quirk.png")
    coco = {
        "images": one_image(),
        "categories": [{"id": 1, "name": "item"}],
        "annotations": [
            {
                "id": 7,
                "image_id": 1,
                "category_id": 1,
                "segmentation": [],
                "bbox": [5, 6, 20, 10],
                "area": 200,
                "iscrowd": 0,
            }
        ],
    }
    response = post_import(client_for("admin"), project, None, raw=write_coco(tmp_path, coco))
    notes = [(p["annotation_id"], p["code"], p["severity"]) for p in response.json()["report"]["problems"]]
    assert (7, "bbox_only", "note") in notes
    accept(client_for("admin"), response)
    ann = image.annotations.get()
    assert ann.bbox == [5, 6, 20, 10] and ann.area == 200


@pytest.mark.django_db
@pytest.mark.parametrize("counts_as", ["list", "string"])
def test_coco_quirk_rle_counts_as_list_or_string(project, users, client_for, tmp_path, counts_as):
    image = add_image(project, users["admin"], seed=53, name="quirk.png")
    mask = np.zeros((48, 64), dtype=bool)
    mask[10:30, 5:40] = True
    mask[15:20, 10:20] = False  # a hole, so the traced shape must keep it
    if counts_as == "string":
        rle = geometry.mask_to_rle(mask)
        assert isinstance(rle["counts"], str)
    else:
        flat = mask.flatten(order="F").astype(np.uint8)
        changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
        runs = np.diff(np.concatenate([[0], changes])).tolist()
        rle = {"size": [48, 64], "counts": [int(r) for r in runs]}
        assert sum(rle["counts"]) == 48 * 64
    coco = {
        "images": one_image(),
        "categories": [{"id": 1, "name": "item"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": rle, "iscrowd": 0}],
    }
    response = post_import(client_for("admin"), project, None, raw=write_coco(tmp_path, coco))
    assert [p for p in response.json()["report"]["problems"] if p["severity"] == "error"] == []
    accept(client_for("admin"), response)
    shape = image.annotations.get().shape
    assert geometry.shape_has_holes(shape)
    assert geometry.mask_iou(geometry.shape_to_mask(shape, 48, 64), mask) >= 0.99


@pytest.mark.django_db
def test_coco_quirk_keypoints_are_ignored_with_a_note(project, users, client_for, tmp_path):
    image = add_image(project, users["admin"], seed=54, name="quirk.png")
    coco = {
        "images": one_image(),
        "categories": [{"id": 1, "name": "item", "keypoints": ["top", "bottom"], "skeleton": [[1, 2]]}],
        "annotations": [
            {
                "id": 3,
                "image_id": 1,
                "category_id": 1,
                "segmentation": [[2, 2, 12, 2, 12, 12]],
                "keypoints": [5, 5, 2, 10, 10, 2],
                "num_keypoints": 2,
            }
        ],
    }
    response = post_import(client_for("admin"), project, None, raw=write_coco(tmp_path, coco))
    notes = [p for p in response.json()["report"]["problems"] if p["code"] == "keypoints_ignored"]
    assert len(notes) == 1 and notes[0]["severity"] == "note" and notes[0]["annotation_id"] == 3
    accept(client_for("admin"), response)
    assert image.annotations.count() == 1


@pytest.mark.django_db
def test_coco_quirk_extra_fields_are_ignored_with_a_note(project, users, client_for, tmp_path):
    image = add_image(project, users["admin"], seed=55, name="quirk.png")
    coco = {
        "info": {"year": 2024, "tool": "some labeller"},
        "licenses": [{"id": 1, "name": "CC"}],
        "type": "instances",
        "x_custom": {"anything": [1, 2, 3]},
        "images": [{**one_image()[0], "license": 1, "exif": {"camera": "dock-3"}, "tags": ["night"]}],
        "categories": [{"id": 1, "name": "item", "supercategory": "package", "color": "#ff0000"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "segmentation": [[2, 2, 12, 2, 12, 12]],
                "attributes": {"occluded": True},
                "track_id": 4,
                "z_order": 2,
            }
        ],
    }
    response = post_import(client_for("admin"), project, None, raw=write_coco(tmp_path, coco))
    notes = [p for p in response.json()["report"]["problems"] if p["code"] == "extra_fields"]
    assert len(notes) == 1 and "attributes" in notes[0]["message"] and "track_id" in notes[0]["message"]
    accept(client_for("admin"), response)
    assert image.annotations.get().category.name == "item"

"""The synthetic scene generator: exclusive masks, COCO file faithful to them, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ml import geometry
from ml.synth import CATEGORIES, DOMAINS, crop_scene, generate_scene, write_dataset
from ml.synth.__main__ import main as synth_cli
from ml.universal.data import annotation_mask

SIZE = (96, 128)  # (H, W): tiny scenes keep the suite fast


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_masks_are_exclusive_and_labelled(domain):
    scene = generate_scene(domain, seed=11, size=SIZE)
    assert scene.image.shape == (*SIZE, 3) and scene.image.dtype == np.uint8
    assert scene.instances, "every domain should place at least one parcel"
    stack = np.stack([inst.mask for inst in scene.instances])
    assert stack.sum(axis=0).max() == 1, "a pixel must have exactly one owner"
    for k, inst in enumerate(scene.instances):
        assert inst.category in CATEGORIES
        assert np.array_equal(inst.mask, scene.labels == k + 1)


def test_same_seed_same_scene_and_different_seed_differs():
    a = generate_scene("tote_oblique", 5, SIZE)
    b = generate_scene("tote_oblique", 5, SIZE)
    c = generate_scene("tote_oblique", 6, SIZE)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.image, c.image)


def test_unknown_domain_is_rejected():
    with pytest.raises(ValueError, match="unknown domain"):
        generate_scene("moon_base", 0)


def test_coco_file_matches_the_generator(tmp_path):
    path = write_dataset(tmp_path, "all", count=4, seed=21, size=SIZE)
    coco = json.loads(path.read_text())
    assert [c["name"] for c in sorted(coco["categories"], key=lambda c: c["id"])] == CATEGORIES
    assert len(coco["images"]) == 4
    for info, domain in zip(coco["images"], sorted(DOMAINS), strict=True):
        assert (tmp_path / info["file_name"]).exists()
        scene = generate_scene(domain, 21 + info["id"] - 1, SIZE)
        anns = [a for a in coco["annotations"] if a["image_id"] == info["id"]]
        assert len(anns) == len(scene.instances)
        for ann, inst in zip(anns, scene.instances, strict=True):
            assert CATEGORIES[ann["category_id"] - 1] == inst.category
            decoded = annotation_mask(ann, *SIZE)
            assert geometry.mask_iou(decoded, inst.mask) > 0.9
            assert ann["area"] == inst.mask.sum()
            assert ann["bbox"] == geometry.mask_bbox(inst.mask)


def test_cli_writes_images_and_annotations(tmp_path):
    synth_cli(["--domain", "pallet_stack", "--count", "2", "--seed", "3", "--size", "64", "64", "--out", str(tmp_path)])
    coco = json.loads((tmp_path / "annotations.json").read_text())
    assert len(coco["images"]) == 2 and coco["annotations"]


def test_rendering_in_several_processes_writes_the_same_files_as_one(tmp_path):
    one = write_dataset(tmp_path / "one", "all", count=5, seed=8, size=(48, 64))
    two = write_dataset(tmp_path / "two", "all", count=5, seed=8, size=(48, 64), workers=2)
    assert json.loads(one.read_text())["annotations"] and one.read_text() == two.read_text()
    for info in json.loads(one.read_text())["images"]:
        assert (one.parent / info["file_name"]).read_bytes() == (two.parent / info["file_name"]).read_bytes()


def test_a_crop_keeps_the_window_of_each_instance_and_drops_what_it_cuts_to_a_sliver():
    scene = generate_scene("conveyor_topdown", 3, (96, 192))
    crop = crop_scene(scene, 0, 50, (96, 96))
    assert np.array_equal(crop.image, scene.image[:, 50:146])
    window = scene.labels[:, 50:146]
    kept = [k for k in np.unique(window) if k and (window == k).sum() >= 12]
    assert kept, "the window should show part of some parcel"
    assert len(crop.instances) == len(kept)
    for inst, k in zip(crop.instances, kept, strict=True):
        assert np.array_equal(inst.mask, window == k)
        assert inst.category == scene.instances[k - 1].category
    assert np.array_equal(crop.labels > 0, np.isin(window, kept))  # slivers are background now
    with pytest.raises(ValueError, match="outside"):
        crop_scene(scene, 0, 100, (96, 96))

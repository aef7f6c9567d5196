"""Real photos labelled with boxes: the targets they give and the box projection loss."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from ml.synth import CATEGORIES
from ml.universal import targets
from ml.universal.data import BoxDataset, select_images, series_kind
from ml.universal.engine import box_projection_loss, compute_loss
from ml.universal.photo_augment import augment_photo, mosaic
from ml.universal.train import train


def test_a_box_that_the_mask_fills_projects_to_itself_and_costs_nothing():
    foreground = torch.zeros(1, 20, 30)
    foreground[0, 4:12, 5:20] = 1.0
    box = torch.tensor([[[5, 4, 20, 12]]])
    assert float(box_projection_loss(foreground, box)) == pytest.approx(0.0, abs=1e-6)


def test_a_mask_short_of_its_box_costs_the_dice_of_its_projections():
    # The box spans 10 columns and 8 rows; the mask covers the left 4 columns and every row.
    foreground = torch.zeros(1, 20, 30)
    foreground[0, 4:12, 5:9] = 1.0
    box = torch.tensor([[[5, 4, 15, 12]]])
    # Columns: projection 1 on 4 of 10 -> dice 1 - 2*4/(4 + 10); rows: all 8 -> 0.
    assert float(box_projection_loss(foreground, box)) == pytest.approx(1 - 8 / 14, abs=1e-6)


def test_a_mask_larger_than_its_box_costs_no_more_than_one_that_fits_and_padding_rows_count_for_nothing():
    box = torch.tensor([[[5, 4, 15, 12], [-1, -1, -1, -1]]])
    fits, larger, short = (torch.zeros(1, 20, 30) for _ in range(3))
    fits[0, 4:12, 5:15] = 1.0
    larger[0, 1:12, 3:17] = 1.0  # a visible top face and a side beyond the front-face box
    short[0, 6:10, 7:13] = 1.0
    losses = [float(box_projection_loss(f, box)) for f in (fits, larger, short)]
    assert losses[0] == losses[1] == pytest.approx(0.0, abs=1e-6)
    assert losses[2] > 0.2
    assert float(box_projection_loss(fits, torch.full((1, 3, 4), -1))) == 0.0


def test_box_targets_claim_the_core_leave_the_band_and_ring_to_the_mask_and_know_background_near_the_boxes():
    size, pad = (200, 300), (224, 320)
    semantic, interior, projection = targets.box_targets(
        np.array([[100.0, 60.0, 160.0, 140.0]]), 1, size, pad, partial=False
    )
    assert semantic.shape == interior.shape == (112, 160)
    # Stride 2: the box is x 50..80, y 30..70; its band is 3 px wide in x and 4 px in y.
    assert (semantic[34:66, 53:77] == 1).all()
    assert semantic[31, 60] == targets.IGNORE and semantic[50, 51] == targets.IGNORE  # the band
    assert semantic[50, 46] == targets.IGNORE and semantic[25, 60] == targets.IGNORE  # the ring outside
    assert semantic[50, 20] == 0 and semantic[5, 5] == 0  # background, fully labelled
    assert (semantic[100:, :] == targets.IGNORE).all()  # padding
    # A box does not say where the package's border is: the interior map learns from exact masks only.
    assert (interior == targets.IGNORE_INTERIOR).all()
    assert projection[0].tolist() == [50, 30, 80, 70] and (projection[1:] == -1).all()
    partial, _, _ = targets.box_targets(np.array([[100.0, 60.0, 160.0, 140.0]]), 1, size, pad, partial=True)
    assert partial[50, 40] == 0 and partial[5, 5] == targets.IGNORE  # only near the boxes is background known
    assert (partial[34:66, 53:77] == 1).all()
    # Positives only (another team's labels in a shared base): the same core, and no pixel is background.
    positives, _, kept = targets.box_targets(
        np.array([[100.0, 60.0, 160.0, 140.0]]), 1, size, pad, partial=True, background=False
    )
    assert (positives[34:66, 53:77] == 1).all() and not (positives == 0).any()
    assert set(np.unique(positives).tolist()) == {1, targets.IGNORE} and kept.tolist() == projection.tolist()


def test_overlapping_boxes_each_keep_their_projection_and_the_largest_boxes_are_kept():
    boxes = np.array([[0.0, 0.0, 120.0, 120.0], [60.0, 60.0, 100.0, 100.0]])
    semantic, interior, projection = targets.box_targets(boxes, 2, (128, 128), (128, 128), partial=False)
    assert projection[0].tolist() == [0, 0, 60, 60] and projection[1].tolist() == [30, 30, 50, 50]
    # The small box's band lies inside the big one's core.
    assert semantic[40, 40] == 2 and semantic[30, 40] == targets.IGNORE
    assert (interior == targets.IGNORE_INTERIOR).all()
    many = np.array([[x, 0.0, x + 1.5 + x / 50, 10.0] for x in np.arange(0, 200, 2.0)])
    _, _, kept = targets.box_targets(many, 1, (20, 400), (32, 416), partial=False)
    assert (kept[:, 2] > kept[:, 0]).all() and len(kept) == targets.MAX_BOXES
    assert kept[:, 0].min() >= 200 // 2 - targets.MAX_BOXES  # the widest, rightmost ones


def test_box_interior_evidence_claims_cores_and_the_seams_of_stacked_boxes_only(monkeypatch):
    monkeypatch.setattr(targets, "BOX_CORES", 1)
    monkeypatch.setattr(targets, "BOX_SEAMS", 1)
    # At stride 2: a stack of two boxes (x 20..80; y 20..60 over y 61..100), a box alone, and two that overlap.
    boxes = np.array(
        [[20, 20, 80, 60], [20, 61, 80, 100], [100, 10, 120, 30], [20, 110, 60, 150], [40, 130, 80, 170]],
        float,
    )
    semantic, interior, _ = targets.box_targets(boxes * 2, 1, (400, 300), (416, 320), partial=True)
    d = int(targets.INTERIOR_SATURATION)
    # Cores: d or more inside a box, and no other box within d.
    assert (interior[20 + d : 60 - d, 20 + d : 80 - d] == 1.0).all() and (
        interior[10 + d : 30 - d, 100 + d : 120 - d] == 1.0
    ).all()
    assert (
        interior[20 + d - 1, 50] == targets.IGNORE_INTERIOR
        and interior[40, 20 + d - 1] == targets.IGNORE_INTERIOR
    )
    # The seam between the stacked boxes, midway between the facing edges, is a border, and package;
    # its ends (within d of the stretch's corners) are not claimed.
    assert (interior[60, 20 + d : 80 - d] == 0.0).all() and (semantic[60, 20 + d : 80 - d] == 1).all()
    assert interior[60, 20 + d - 1] == targets.IGNORE_INTERIOR and interior[59, 50] == targets.IGNORE_INTERIOR
    # Two overlapping boxes: no core where both are within d, and no seam (their edges do not face).
    assert (interior[126:154, 36:64] == targets.IGNORE_INTERIOR).all()
    assert interior[115, 35] == 1.0 and interior[160, 70] == 1.0
    assert not (interior[105:175, :] == 0.0).any()
    # Seams alone, and nothing at all: the default (boxes say nothing of the interior).
    monkeypatch.setattr(targets, "BOX_CORES", 0)
    seams_only = targets.box_targets(boxes * 2, 1, (400, 300), (416, 320), partial=True)[1]
    assert (seams_only[60, 20 + d : 80 - d] == 0.0).all() and not (seams_only == 1.0).any()
    monkeypatch.setattr(targets, "BOX_SEAMS", 0)
    default = targets.box_targets(boxes * 2, 1, (400, 300), (416, 320), partial=True)[1]
    assert (default == targets.IGNORE_INTERIOR).all()


def _tiny_box_set(tmp_path):
    rng = np.random.default_rng(0)
    images, annotations, rows = [], [], []
    for k in range(4):
        image = rng.integers(0, 60, (96, 128, 3), dtype=np.uint8)
        image[20:70, 30:90] = (180, 140, 90)  # a carton's face
        name = f"images/capture_{k}.jpg"
        (tmp_path / "images").mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / name), image)
        images.append({"id": k + 1, "file_name": name, "width": 128, "height": 96})
        annotations.append(
            {
                "id": k + 1,
                "image_id": k + 1,
                "category_id": 1,
                "bbox": [30, 20, 60, 50],
                "area": 3000,
                "iscrowd": 0,
            }
        )
        rows.append(
            {
                "file_name": name,
                "series": ["video IMG_1_mp4", "video IMG_1_mp4", "src: burst shop", ""][k],
                "kept": "True",
            }
        )
    (tmp_path / "train.json").write_text(
        json.dumps(
            {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "cardboard_box"}]}
        )
    )
    lines = ["file_name,series,kept"] + [f"{r['file_name']},{r['series']},{r['kept']}" for r in rows]
    (tmp_path / "source_map.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "train.json", tmp_path / "source_map.csv"


def test_a_box_dataset_yields_captures_only_with_their_boxes_and_trains_beside_synthetic_scenes(tmp_path):
    coco, source_map = _tiny_box_set(tmp_path)
    data = BoxDataset(coco, list(CATEGORIES), 64, source_map, subset="captures", augment=False)
    assert len(data) == 3  # the fourth image has no series: a web image
    image, semantic, interior, boxes = data[0]
    assert image.shape == (3, 64, 64) and semantic.shape == interior.shape == (32, 32)
    # x 30..90, y 20..70 at scale 0.5 and stride 2, rounded outwards; a box label (the projection loss's)
    assert boxes[0].tolist() == [7, 5, 23, 18, targets.BOX_LABEL]
    assert (semantic == CATEGORIES.index("cardboard_box") + 1).any()
    with pytest.raises(ValueError, match="unknown subset"):
        select_images([], {}, "phones")
    # a training mix may weight some kinds of series: only the burst's photo, then none of a kind absent
    bursts = BoxDataset(coco, list(CATEGORIES), 64, source_map, augment=False, series_kinds=("burst",))
    assert [img["file_name"] for img in bursts.images] == [data.images[2]["file_name"]]
    assert series_kind("src: burst shop") == "burst" and series_kind("") == series_kind("src:") == ""
    with pytest.raises(ValueError, match=r"no captures images of series kinds \['rig'\]"):
        BoxDataset(coco, list(CATEGORIES), 64, source_map, series_kinds=("rig",))
    augmented = BoxDataset(coco, list(CATEGORIES), 64, source_map, augment=True, seed=3)
    for index in range(3):
        _, sem, _, bxs = augmented[index]
        valid = bxs[bxs[:, 2] > bxs[:, 0]]
        assert len(valid) == 1 and (sem == 1).any()
    result = train(
        {
            "architecture": "unet_xs",
            "input_size": 64,
            "epochs": 2,
            "batch_size": 4,
            "lr": 3e-3,
            "data": [
                {"boxes": {"coco": str(coco), "source_map": str(source_map)}},
                {"synthetic": {"count": 5, "seed": 1}},
            ],
            "out": str(tmp_path / "mixed.pt"),
            "bn_recalibration_batches": 1,
        }
    )
    assert result["steps"] == 4 and np.isfinite(result["loss"])


def test_a_zoomed_out_photo_sits_whole_on_a_larger_canvas_and_its_boxes_follow(tmp_path):
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    boxes = np.array([[10.0, 5.0, 30.0, 25.0]])
    for seed in range(5):
        out, moved = augment_photo(
            np.random.default_rng(seed), photo, boxes, 0.0, zoom_out_p=1.0, zoom_out=2.0
        )
        assert (
            40 <= out.shape[0] <= 80 and 60 <= out.shape[1] <= 120 and out.shape[0] * out.shape[1] > 40 * 60
        )
        x0, y0, x1, y1 = (int(round(v)) for v in moved[0])
        assert (x1 - x0, y1 - y0) == (20, 20)  # the carton keeps its size: the photo is smaller in the frame
        inside, original = out[y0:y1, x0:x1].astype(int), photo[5:25, 10:30].astype(int)
        # the same pixels, mirrored or not, through the photometric jitter: the order of brightness is kept
        ranks = [np.corrcoef(inside.ravel(), o.ravel())[0, 1] for o in (original, original[:, ::-1])]
        assert max(ranks) > 0.9
    # off by default: the same draws as before, bit for bit
    a = augment_photo(np.random.default_rng(7), photo, boxes, 0.2)
    b = augment_photo(np.random.default_rng(7), photo, boxes, 0.2, zoom_out_p=0.3, zoom_out=1.0)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    coco, source_map = _tiny_box_set(tmp_path)
    for bad in ({"zoom_out": 0.5}, {"camera": 1.5}, {"mosaic": -0.1}):
        with pytest.raises(ValueError, match="zoom_out must be >= 1 and camera and mosaic shares in"):
            BoxDataset(coco, list(CATEGORIES), 64, source_map, **bad)
    plain = BoxDataset(coco, list(CATEGORIES), 64, source_map, seed=3)
    seen = BoxDataset(coco, list(CATEGORIES), 64, source_map, seed=3, camera=1.0)
    # the camera's effects change pixels, never labels
    assert not torch.equal(plain[0][0], seen[0][0]) and torch.equal(plain[0][3], seen[0][3])


def test_a_mosaic_puts_four_photos_on_one_canvas_and_each_box_still_holds_its_carton(tmp_path):
    # Photo k: a plain colour with its carton (the box) painted in a colour of its own.
    photos, cartons = [], [(40 + 50 * k, 200 - 40 * k, 90) for k in range(4)]
    for k in range(4):
        photo = np.full((40 + 10 * k, 60, 3), 20 * k, dtype=np.uint8)
        photo[10:30, 15 + 5 * k : 45] = cartons[k]
        photos.append((photo, np.array([[15.0 + 5 * k, 10.0, 45.0, 30.0]])))
    seen = 0
    for seed in range(6):
        canvas, boxes = mosaic(np.random.default_rng(seed), photos, 64)
        assert canvas.shape == (128, 128, 3) and boxes.shape[1] == 4 and len(boxes) <= 4
        for x0, y0, x1, y1 in boxes.round().astype(int):
            inside = canvas[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1].reshape(-1, 3)
            if len(inside) == 0:  # cut to a sliver at the canvas's edge
                continue
            colours = {tuple(int(v) for v in c) for c in inside}
            # one carton's colour fills the box: the box moved and scaled with its photo
            assert len(colours) == 1 and colours.pop() in cartons
            seen += 1
    assert seen >= 12
    with pytest.raises(ValueError, match="a mosaic takes 4 photos, got 3"):
        mosaic(np.random.default_rng(0), photos[:3], 64)
    coco, source_map = _tiny_box_set(tmp_path)
    tiled = BoxDataset(coco, list(CATEGORIES), 64, source_map, seed=3, mosaic=1.0)
    counts = []
    for index in range(3):
        _, semantic, _, bxs = tiled[index]
        counts.append(int((bxs[:, 2] > bxs[:, 0]).sum()))
        assert semantic.shape == (32, 32)
    assert max(counts) >= 2  # one photo's box, and another's beside it
    # off by default: no extra random draw, so a sample is the single photo's augmentation as before
    plain = BoxDataset(coco, list(CATEGORIES), 64, source_map, seed=3)
    image, _ = augment_photo(np.random.default_rng(3 + 1), *plain.photo(1), BoxDataset.GREYSCALE_P)
    expected = targets.to_tensor(targets.resize_long_side(image, 64)[0], (64, 64))
    assert torch.equal(plain[1][0], expected) and not torch.equal(tiled[1][0], expected)


def test_the_loss_on_box_labels_ignores_unknown_pixels_and_adds_the_projection_term():
    semantic, interior, boxes = targets.box_targets(
        np.array([[8.0, 8.0, 40.0, 40.0]]), 1, (64, 64), (64, 64), partial=True
    )
    sem, intr = torch.from_numpy(semantic).long()[None], torch.from_numpy(interior)[None]
    out = {"semantic": torch.zeros(1, 6, 32, 32), "interior": torch.zeros(1, 1, 32, 32)}
    without = compute_loss(out, sem, intr)
    with_boxes = compute_loss(out, sem, intr, boxes=torch.from_numpy(boxes)[None])
    # Uniform logits: p(background) = 1/6, so every column's foreground max is 5/6 -> dice 1 - 2(5/6)/((5/6)^2 + 1).
    per_axis = 1 - 2 * (5 / 6) / ((5 / 6) ** 2 + 1)
    assert float(with_boxes - without) == pytest.approx(2 * per_axis, rel=1e-4)
    # A wrong guess on an unknown pixel (far from the box in a partially labelled photo) changes nothing.
    assert semantic[30, 30] == targets.IGNORE and interior[30, 30] == targets.IGNORE_INTERIOR
    moved = {k: v.clone() for k, v in out.items()}
    moved["semantic"][0, 1, 30, 30] = 9.0
    moved["interior"][0, 0, 30, 30] = 9.0
    assert float(compute_loss(moved, sem, intr)) == pytest.approx(float(without), abs=1e-6)


def test_synthetic_training_scenes_can_be_seen_through_a_camera_and_photo_like_domains_train():
    from ml.universal.data import SyntheticDataset

    clean = SyntheticDataset(["pallet_stack"], 2, 11, 128, list(CATEGORIES), camera=0.0)
    photo = SyntheticDataset(["pallet_stack"], 2, 11, 128, list(CATEGORIES), camera=1.0)
    assert not torch.equal(clean[0][0], photo[0][0])  # another camera's pixels
    assert torch.equal(photo[0][0], photo[0][0])  # seeded: the same scene every time
    _, semantic, _, _ = SyntheticDataset(["no_package"], 1, 3, 128, list(CATEGORIES), camera=1.0)[0]
    assert set(semantic.unique().tolist()) <= {0, targets.IGNORE}  # nothing but background and padding


def test_a_box_of_any_package_teaches_package_against_background_and_leaves_the_category_alone(tmp_path):
    from ml.universal.engine import class_loss

    logits = torch.tensor([[0.2, 1.0, -0.5, 0.3, 0.0, -1.0], [1.5, -0.2, 0.4, 0.0, 0.7, 0.1]]).T[
        None, :, None, :
    ]
    named = torch.tensor([[[1, targets.IGNORE]]])
    # Without ANY_PACKAGE it is the cross-entropy over the named pixels.
    expected = torch.nn.functional.cross_entropy(logits, named, ignore_index=targets.IGNORE)
    assert float(class_loss(logits, named)) == pytest.approx(float(expected), rel=1e-6)
    # An ANY_PACKAGE pixel costs -log p(not background), the mean over both known pixels.
    both = torch.tensor([[[1, targets.ANY_PACKAGE]]])
    p_background = torch.softmax(logits[0, :, 0, 1], dim=0)[0]
    want = (float(expected) - float(torch.log(1 - p_background))) / 2
    assert float(class_loss(logits, both)) == pytest.approx(want, rel=1e-6)
    # How the package share splits among the categories costs nothing there.
    swapped = logits.clone()
    swapped[0, 1:, 0, 1] = swapped[0, 1:, 0, 1].flip(0)
    assert float(class_loss(swapped[..., 1:], both[..., 1:])) == pytest.approx(
        float(class_loss(logits[..., 1:], both[..., 1:])), rel=1e-6
    )
    assert float(class_loss(logits, torch.full((1, 1, 2), targets.IGNORE))) == 0.0
    coco, source_map = _tiny_box_set(tmp_path)
    data = BoxDataset(coco, list(CATEGORIES), 64, source_map, category="any", augment=False)
    semantic = data[0][1]
    assert (semantic == targets.ANY_PACKAGE).any() and not (
        (semantic > 0) & (semantic < len(CATEGORIES) + 1)
    ).any()

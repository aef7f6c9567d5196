"""Instances from package centres (ml.universal.centers): targets, loss, decoding, grouping, the head."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import torch

from ml import geometry
from ml.synth import generate_scene
from ml.synth.scene import CATEGORIES
from ml.universal import targets
from ml.universal.centers import (
    add_center_head,
    center_loss,
    center_targets,
    decode_boxes,
    group_from_centers,
    group_with_centers,
)
from ml.universal.checkpoint import load_checkpoint, make_meta, save_checkpoint
from ml.universal.data import SyntheticDataset
from ml.universal.engine import compute_loss
from ml.universal.grouping import GroupingParams, group_instances
from ml.universal.model import CenterTower, build_model, has_center_head
from ml.universal.predictor import UniversalPredictor


def _boxes(*rows: list[int]) -> torch.Tensor:
    out = torch.full((1, 4, 4), -1, dtype=torch.int64)
    for k, row in enumerate(rows):
        out[0, k] = torch.tensor(row)
    return out


def test_a_box_puts_a_peak_of_one_at_its_centre_and_its_log_size_around_it():
    heat, size = center_targets(_boxes([4, 6, 14, 26]), 32, 32)  # 10 wide, 20 high: centre (9, 16)
    assert float(heat[0, 16, 9]) == pytest.approx(1.0)
    assert int((heat >= 1.0 - 1e-6).sum()) == 1  # one centre pixel
    assert float(heat[0, 16, 13]) < float(heat[0, 20, 9]) < 1.0  # narrower across than along the tall box
    assert float(size[0, 0, 16, 9]) == pytest.approx(np.log(10)) and float(
        size[0, 1, 16, 9]
    ) == pytest.approx(np.log(20))
    empty_heat, _ = center_targets(_boxes(), 8, 8)
    assert float(empty_heat.sum()) == 0.0


def test_the_centre_loss_rewards_the_right_centre_and_size_and_ignores_unknown_pixels():
    boxes = _boxes([4, 4, 12, 12])
    heat, size = center_targets(boxes, 16, 16)
    known = torch.ones(1, 16, 16, dtype=torch.bool)

    def output(at: tuple[int, int], log_size: float) -> torch.Tensor:
        out = torch.full((1, 3, 16, 16), -6.0)
        out[0, 0, at[0], at[1]] = 6.0
        out[0, 1:] = log_size
        return out

    right = float(center_loss(output((8, 8), float(np.log(8))), boxes, known))
    shifted = float(center_loss(output((4, 12), float(np.log(8))), boxes, known))
    too_large = float(center_loss(output((8, 8), float(np.log(16))), boxes, known))
    assert right < 0.05 and shifted > 1.0 and too_large > right + 0.3
    # A peak on an unknown pixel (a carton nobody labelled) costs nothing.
    fired = output((8, 8), float(np.log(8)))
    fired[0, 0, 1, 14] = 6.0
    unknown = known.clone()
    unknown[0, 1, 14] = False
    assert float(center_loss(fired, boxes, unknown)) == pytest.approx(right, abs=1e-6)
    assert float(center_loss(fired, boxes, known)) > right + 1.0


def test_peaks_decode_to_boxes_best_first():
    maps = np.zeros((3, 20, 30), np.float32)
    maps[0, 5, 6], maps[0, 12, 20] = 0.4, 0.9
    maps[0, 12, 21] = 0.5  # a shoulder of the second peak, not a peak of its own
    maps[1], maps[2] = np.log(4.0), np.log(6.0)
    boxes, scores = decode_boxes(maps, threshold=0.3)
    assert scores.tolist() == pytest.approx([0.9, 0.4])
    assert boxes[0].tolist() == pytest.approx([18.5, 9.5, 22.5, 15.5])
    assert len(decode_boxes(maps, threshold=0.95)[0]) == 0


def test_two_stacked_cartons_with_no_seam_in_the_interior_map_come_apart_from_their_centres():
    # One foreground blob, interior flat at 1: the interior map's seeds see one parcel.
    probs = np.zeros((6, 40, 60), np.float32)
    probs[0] = 1.0
    probs[0, 10:30, 5:55], probs[1, 10:30, 5:55] = 0.0, 1.0
    interior = np.where(probs[0] < 0.5, 1.0, 0.0).astype(np.float32)
    params = GroupingParams(seed_threshold=0.5, growth_levels=(0.5,))
    assert len(group_instances(probs, interior, params)) == 1
    boxes = np.array([[5, 10, 30, 30], [30, 10, 55, 30]], np.float32)
    found = group_from_centers(probs, interior, boxes, np.array([0.9, 0.8], np.float32), params)
    assert [round(r.score, 2) for r in found] == [0.9, 0.8]
    for r, (x0, y0, x1, y1) in zip(found, boxes.astype(int), strict=True):
        ys, xs = np.nonzero(r.mask)
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x0, y0, x1, y1)
        assert r.class_index == 1
    assert not (found[0].mask & found[1].mask).any()


def _blobs(*masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities (a cardboard box wherever a mask is) and an interior map peaking in each mask."""
    probs = np.zeros((6, *masks[0].shape), np.float32)
    probs[0] = 1.0
    interior = np.zeros(masks[0].shape, np.float32)
    for mask in masks:
        probs[0][mask], probs[1][mask] = 0.0, 1.0
        distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
        interior = np.maximum(interior, distance / distance.max())
    return probs, interior


def test_a_centre_confirms_an_interior_seeded_mask_and_keeps_it_whole():
    disc, clutter = np.zeros((60, 80), bool), np.zeros((60, 80), bool)
    cv2.circle(disc.view(np.uint8), (20, 30), 12, 1, -1)  # a bag: its box's corners are not the bag
    clutter[10:50, 55:75] = True
    probs, interior = _blobs(disc, clutter)
    params = GroupingParams(seed_threshold=0.5, growth_levels=(0.5, 0.2))
    assert len(group_instances(probs, interior, params)) == 2
    box = np.array([[8, 18, 33, 43]], np.float32)  # the disc's box, 1 px larger on the right and below
    found = group_with_centers(probs, interior, box, np.array([0.8], np.float32), params)
    assert len(found) == 2
    own = next(r.score for r in group_instances(probs, interior, params) if np.array_equal(r.mask, disc))
    assert own > 0.2  # so that the noisy-or and the centre's score alone differ below
    # The centre and the interior seed are two pieces of evidence for one package (a noisy-or).
    assert found[0].score == pytest.approx(1 - 0.2 * (1 - own)) and np.array_equal(found[0].mask, disc)
    # Each keeps its evidence for the rescorer (ml.universal.rescoring): how it arose and both scores.
    assert (found[0].origin, found[0].centre, found[0].seeded) == (
        "confirmed_by_box",
        pytest.approx(0.8),
        own,
    )
    assert (found[1].origin, found[1].centre) == ("seeded", 0.0) and found[1].seeded > found[1].score
    # No centre confirms the clutter: it stays at half its own score, or goes with a weight of 0.
    assert np.array_equal(found[1].mask, clutter) and found[1].score < 0.5
    strict = dataclasses.replace(params, unconfirmed_weight=0.0)
    assert [r.score for r in group_with_centers(probs, interior, box, np.array([0.8]), strict)] == [
        pytest.approx(found[0].score)
    ]
    # With seed_evidence 0 the confirmed bag keeps its mask but scores as its centre alone; half, half its own.
    for evidence, score in ((0.0, 0.8), (0.5, 1 - 0.2 * (1 - 0.5 * own))):
        weighed = dataclasses.replace(params, seed_evidence=evidence)
        first = group_with_centers(probs, interior, box, np.array([0.8], np.float32), weighed)[0]
        assert first.score == pytest.approx(score) and np.array_equal(first.mask, disc)


def test_a_centre_whose_box_misses_a_seeded_package_but_grows_its_pixels_confirms_it_and_draws_no_twin():
    disc = np.zeros((60, 80), bool)
    cv2.circle(disc.view(np.uint8), (20, 30), 12, 1, -1)
    probs, interior = _blobs(disc)
    params = GroupingParams(seed_threshold=0.5, growth_levels=(0.5, 0.2))
    (seeded,) = group_instances(probs, interior, params)
    box = np.array([[0, 5, 45, 55]], np.float32)  # box IoU with the disc's 0.28: no confirmation by boxes
    assert (
        geometry.box_iou_matrix([[0, 5, 45, 50]], [geometry.mask_bbox(disc)])[0, 0] < params.center_agreement
    )
    grown = group_from_centers(probs, interior, box, np.array([0.8], np.float32), params)
    assert len(grown) == 1 and geometry.mask_iou(grown[0].mask, disc) > 0.9  # the same package, twice
    found = group_with_centers(probs, interior, box, np.array([0.8], np.float32), params)
    assert len(found) == 1 and np.array_equal(found[0].mask, disc)
    assert found[0].score == pytest.approx(1 - 0.2 * (1 - seeded.score))
    assert found[0].origin == "confirmed_by_mask" and found[0].seeded == seeded.score


def test_centres_split_an_interior_seed_that_holds_three_stacked_cartons():
    stack = np.zeros((40, 90), bool)
    stack[10:30, 5:80] = True
    probs, interior = _blobs(stack)
    params = GroupingParams(seed_threshold=0.5, growth_levels=(0.5,), unconfirmed_weight=0.0)
    assert len(group_instances(probs, interior, params)) == 1
    boxes = np.array([[5, 10, 30, 30], [30, 10, 55, 30], [55, 10, 80, 30]], np.float32)
    found = group_with_centers(probs, interior, boxes, np.array([0.9, 0.8, 0.7], np.float32), params)
    assert [r.score for r in found] == pytest.approx([0.9, 0.8, 0.7])  # none confirms the merged seed
    assert {r.origin for r in found} == {"grown"} and [r.centre for r in found] == pytest.approx(
        [0.9, 0.8, 0.7]
    )
    for r, (x0, y0, x1, y1) in zip(found, boxes.astype(int), strict=True):
        assert r.mask[y0:y1, x0:x1].all()
    assert not (found[0].mask & found[1].mask).any() and not (found[1].mask & found[2].mask).any()


def test_a_carton_the_maps_miss_is_drawn_as_its_centres_box_only_with_the_box_fallback():
    disc = np.zeros((60, 80), bool)
    cv2.circle(disc.view(np.uint8), (20, 30), 12, 1, -1)  # the maps see one package, a bag on the left
    probs, interior = _blobs(disc)
    params = GroupingParams(seed_threshold=0.5, growth_levels=(0.5, 0.2), unconfirmed_weight=0.0)
    carton = np.array([[50, 10, 70, 40]], np.float32)  # a printed carton the centres find and the maps miss:
    # no foreground grows from its seed, so without a fallback it is dropped, with one its box is drawn
    assert group_from_centers(probs, interior, carton, np.array([0.7], np.float32), params) == []
    fallback = dataclasses.replace(params, box_fallback=0.5)
    (drawn,) = group_from_centers(probs, interior, carton, np.array([0.7], np.float32), fallback)
    expected = np.zeros_like(disc)
    expected[10:40, 50:70] = True
    assert np.array_equal(drawn.mask, expected) and drawn.score == pytest.approx(0.7)
    # A centre whose grown mask covers more of its box than that (the bag, 62 %) keeps it: the bag stays round.
    bag_box = np.array([[7, 17, 34, 44]], np.float32)
    (grown,) = group_from_centers(probs, interior, bag_box, np.array([0.9], np.float32), fallback)
    assert np.array_equal(grown.mask, disc)
    # Beside a confirmed bag, the carton's centre draws its box too.
    both = group_with_centers(
        probs, interior, np.concatenate([bag_box, carton]), np.array([0.9, 0.7], np.float32), fallback
    )
    assert [int(r.mask.sum()) for r in both] == [int(disc.sum()), 600]


@pytest.mark.parametrize("variant", ["centers", "center_branch", "center_tower"])
def test_a_centre_head_joins_a_checkpoint_without_changing_its_maps(tmp_path, variant):
    torch.manual_seed(0)
    plain = build_model("unet_xs")
    with pytest.raises(ValueError, match=f"has no {variant} variant"):
        add_center_head(
            save_checkpoint(tmp_path / "xs.pt", plain, make_meta("unet_xs", list(CATEGORIES), 64)),
            tmp_path / "o.pt",
            variant,
        )
    plain = build_model("unet_s").eval()
    path = save_checkpoint(tmp_path / "s.pt", plain, make_meta("unet_s", list(CATEGORIES), 64))
    with pytest.raises(ValueError, match="unknown centre-head variant"):
        add_center_head(path, tmp_path / "o.pt", "anchors")
    out = add_center_head(path, tmp_path / "s_centers.pt", variant)
    headed, meta = load_checkpoint(out)
    assert meta["architecture"] == f"unet_s_{variant}" and has_center_head(meta["architecture"])
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        before, after = plain(x), headed(x)
    assert torch.equal(before["semantic"], after["semantic"]) and torch.equal(
        before["interior"], after["interior"]
    )
    assert after["centers"].shape == (1, 3, 32, 32)
    with pytest.raises(ValueError, match="already has a centre head"):
        add_center_head(out, tmp_path / "twice.pt")
    # The predictor groups a centre checkpoint from its centres (an untrained head finds few or none).
    image = generate_scene("pallet_stack", 3, (96, 96)).image
    result = UniversalPredictor.from_checkpoint(out).predict(image)
    assert all(0.0 <= inst.score <= 1.0 for inst in result.instances) and 0.0 <= result.uncertainty <= 1.0


def test_a_centre_tower_starts_as_the_bases_trunk_and_runs_once_per_image_under_flips(tmp_path):
    torch.manual_seed(0)
    plain = build_model("unet_s").eval()
    meta = make_meta("unet_s", list(CATEGORIES), 64, test_time_flips=["x", "y", "xy"])
    out = add_center_head(save_checkpoint(tmp_path / "s.pt", plain, meta), tmp_path / "t.pt", "center_tower")
    headed, _ = load_checkpoint(out)
    assert isinstance(headed.centers, CenterTower)
    trunk = headed.centers.net.state_dict()
    assert all(torch.equal(trunk[k], v) for k, v in plain.state_dict().items())
    predictor, base = UniversalPredictor(headed, meta), UniversalPredictor(plain, meta)
    calls = []
    predictor.model.centers.register_forward_hook(lambda module, args, output: calls.append(args[0].shape))
    image = generate_scene("pallet_stack", 3, (96, 96)).image
    probs, interior, _, coarse = predictor.dense_maps(image)
    assert calls == [
        (1, 3, 64, 64)
    ]  # one pass, at the input size, on the image itself, none on its three mirror images
    base_probs, base_interior, _, base_coarse = base.dense_maps(image)
    assert np.array_equal(probs, base_probs) and np.array_equal(interior, base_interior)
    assert coarse.shape[0] == base_coarse.shape[0] + 3


def test_synthetic_samples_carry_their_instances_boxes_which_train_the_centres_but_not_the_projection():
    data = SyntheticDataset(["pallet_stack"], 1, 5, 64, list(CATEGORIES), augment=False)
    _, semantic, interior, boxes = data[0]
    assert boxes.shape == (targets.MAX_BOXES, 5)
    kept = boxes[boxes[:, 2] > boxes[:, 0]]
    assert len(kept) >= 2 and (kept[:, 4] == targets.MASK_BOX).all()
    # Each box holds its instance: the semantic target is a package at the box's centre.
    for x0, y0, x1, y1, _ in kept.tolist():
        assert (semantic[y0:y1, x0:x1] > 0).any()
    out = {"semantic": torch.zeros(1, 6, 32, 32), "interior": torch.zeros(1, 1, 32, 32)}
    args = (semantic[None], interior[None])
    # Mask boxes add no projection term; with a centre head output they add the centre loss.
    assert float(compute_loss(out, *args, boxes=boxes[None])) == pytest.approx(
        float(compute_loss(out, *args))
    )
    with_head = {**out, "centers": torch.zeros(1, 3, 32, 32)}
    assert float(compute_loss(with_head, *args, boxes=boxes[None])) > float(compute_loss(out, *args)) + 0.1


@pytest.mark.parametrize(
    ("variant", "last_layer"),
    [("centers", "centers.1"), ("center_branch", "centers.out"), ("center_tower", "centers.net.centers.1")],
)
def test_training_only_the_centre_head_leaves_every_other_weight_as_the_init_had_it(
    tmp_path, variant, last_layer
):
    from ml.universal.train import train

    torch.manual_seed(0)
    init = save_checkpoint(
        tmp_path / "s.pt", build_model("unet_s"), make_meta("unet_s", list(CATEGORIES), 64)
    )
    headed = add_center_head(init, tmp_path / "s_centers.pt", variant)
    config = {
        "init": str(headed),
        "input_size": 64,
        "data": {"synthetic": {"count": 4, "seed": 3, "domains": ["pallet_stack"]}},
        "steps": 2,
        "batch_size": 2,
        "lr": 1e-2,
        "train_only": ["centers"],
        "out": str(tmp_path / "trained.pt"),
    }
    result = train(config)
    before, _ = load_checkpoint(headed)
    after, _ = load_checkpoint(result["checkpoint"])
    old, new = before.state_dict(), after.state_dict()
    changed = {k for k in old if not torch.equal(old[k], new[k])}
    assert changed and all(k.startswith("centers.") for k in changed)
    assert f"{last_layer}.weight" in changed
    with pytest.raises(ValueError, match="names no parameter"):
        train({**config, "train_only": ["no_such_head"], "out": str(tmp_path / "none.pt")})


def test_a_weaker_centre_inside_a_packages_seed_is_dropped_but_a_neighbours_is_kept():
    from ml.universal.centers import suppress_inner_peaks

    boxes = np.array([[0, 0, 40, 40], [15, 15, 25, 25], [40, 0, 80, 40]], np.float32)  # best first
    kept, scores = suppress_inner_peaks(boxes, np.array([0.9, 0.5, 0.4], np.float32))
    assert kept.tolist() == [[0, 0, 40, 40], [40, 0, 80, 40]] and scores.tolist() == pytest.approx([0.9, 0.4])


def test_the_centre_oracle_groups_one_instance_per_labelled_box_at_most(box_set):
    from ml.experiments.universal.centre_oracle import centre_oracle
    from ml.universal.evaluate import DEFAULT_CHECKPOINT

    torch.set_num_threads(1)
    report = centre_oracle(DEFAULT_CHECKPOINT, box_set / "val.json", subset="captures")
    labelled = report["centre_seeds"]["gt_boxes"]
    assert report["standard"]["images"] == report["centre_seeds"]["images"] == 3
    assert report["core_coverage"]["boxes"] == labelled > 0
    assert 0.0 <= report["core_coverage"]["covered"] <= 1.0
    # One seed per labelled box: never more shapes than boxes, every shape scored by its foreground.
    assert report["centre_seeds"]["shapes_per_image"] * 3 <= labelled
    assert report["centre_seeds"]["box_ap50"] is not None


def test_the_synthetic_oracle_scores_three_groupings_of_the_same_maps():
    from ml.experiments.universal.centre_oracle import main
    from ml.universal.evaluate import DEFAULT_CHECKPOINT

    torch.set_num_threads(1)
    with pytest.raises(SystemExit):
        main([str(DEFAULT_CHECKPOINT)])  # neither --coco nor --synthetic
    from ml.experiments.universal.centre_oracle import synthetic_oracle

    report = synthetic_oracle(DEFAULT_CHECKPOINT, 3, 1234)
    for name in ("standard", "from_centres", "with_centres"):
        assert 0.0 < report[name]["mask_ap"] <= 1.0, name
    # Grown from the true boxes, each mask stays within its box widened by BOX_SLACK; the shipped
    # maps' own instances are not bounded so, and on these scenes they score higher.
    assert report["standard"]["mask_ap"] > report["from_centres"]["mask_ap"]


def test_a_learning_rate_scale_gives_the_named_weights_their_own_rate(tmp_path, monkeypatch):
    import ml.universal.train as train_module
    from ml.universal import engine

    torch.manual_seed(0)
    init = save_checkpoint(
        tmp_path / "s.pt", build_model("unet_s"), make_meta("unet_s", list(CATEGORIES), 64)
    )
    headed = add_center_head(init, tmp_path / "s_centers.pt")
    seen: list[dict[str, float]] = []
    original = engine.train_one_epoch

    def spy(model, optimizer, *args, **kwargs):
        result = original(model, optimizer, *args, **kwargs)
        seen.append({str(g["lr_scale"]): g["lr"] for g in optimizer.param_groups})
        return result

    monkeypatch.setattr(train_module, "train_one_epoch", spy)
    train_module.train(
        {
            "init": str(headed),
            "input_size": 64,
            "data": {"synthetic": {"count": 4, "seed": 3, "domains": ["pallet_stack"]}},
            "steps": 2,
            "batch_size": 2,
            "lr": 1e-4,
            "lr_scale": {"centers": 30},
            "out": str(tmp_path / "trained.pt"),
        }
    )
    rates = seen[-1]
    assert set(rates) == {"1.0", "30.0"} and rates["30.0"] == pytest.approx(30 * rates["1.0"])

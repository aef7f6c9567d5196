"""The universal model: training lowers the loss, checkpoints round-trip, evaluation is COCO's."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json

import cv2
import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ml import geometry
from ml.synth import CATEGORIES, generate_scene, write_dataset
from ml.synth.scene import DOMAINS
from ml.universal import targets
from ml.universal.checkpoint import load_checkpoint, make_meta, save_checkpoint
from ml.universal.coco_eval import CocoMaskEvaluator, coco_from_dict, paired_bootstrap
from ml.universal.data import CocoDataset, RehearsalMix, SyntheticDataset
from ml.universal.engine import compute_loss, contact_band, resolve_device, training_dtype
from ml.universal.eval_data import synthetic_coco
from ml.universal.evaluate import evaluate_checkpoint
from ml.universal.finetune import fine_tune
from ml.universal.grouping import GroupingParams, group_instances, image_uncertainty
from ml.universal.model import MODELS, build_model
from ml.universal.predictor import Instance, UniversalPredictor
from ml.universal.rescoring import FEATURES, fit_rescorer
from ml.universal.train import train


@pytest.fixture(scope="module", autouse=True)
def _two_threads():
    torch.set_num_threads(2)


def test_registry_builds_every_variant():
    x = torch.rand(1, 3, 64, 96)
    for name in MODELS:
        out = build_model(name).eval()(x)
        assert out["semantic"].shape == (1, len(CATEGORIES) + 1, 32, 48)
        assert out["interior"].shape == (1, 1, 32, 48)
        assert out["features"].ndim == 2


def test_grouping_recovers_instances_from_perfect_maps():
    scene = generate_scene("pallet_stack", 3, (128, 128))
    classes = np.array([0] + [CATEGORIES.index(i.category) + 1 for i in scene.instances])
    interior = targets.normalised_interior(scene.labels)
    probs = np.zeros((len(CATEGORIES) + 1, 128, 128))
    probs[classes[scene.labels], np.arange(128)[:, None], np.arange(128)[None, :]] = 1.0
    found = group_instances(probs, interior, GroupingParams(min_area_fraction=0.0))
    assert len(found) >= len(scene.instances)  # an occluder-split parcel comes back as its parts
    for inst in scene.instances:
        if cv2.connectedComponents(inst.mask.astype(np.uint8))[0] == 2:  # background + one part
            assert max(geometry.mask_iou(f.mask, inst.mask) for f in found) > 0.9


def _one_hot_probs(classes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Certain class probabilities (C + 1, H, W) for an instance label map whose instance k has ``classes[k]``."""
    height, width = labels.shape
    probs = np.zeros((len(CATEGORIES) + 1, height, width))
    probs[classes[labels], np.arange(height)[:, None], np.arange(width)[None, :]] = 1.0
    return probs


def test_a_loose_item_on_a_box_gets_its_own_seed_when_seeds_are_split_by_category():
    labels = np.zeros((60, 60), dtype=np.int64)
    labels[10:50, 10:50] = 1  # a box
    labels[24:36, 24:36] = 2  # an item lying on it, with no border the interior map sees
    probs = _one_hot_probs(np.array([0, 1, 5]), labels)
    interior = np.where(labels > 0, 1.0, 0.0)
    params = GroupingParams(seed_threshold=0.5, min_area_fraction=0.0)
    assert len(group_instances(probs, interior, params)) == 1  # one seed: box and item merged
    found = group_instances(probs, interior, dataclasses.replace(params, split_seeds_by_class=True))
    assert sorted((CATEGORIES[f.class_index - 1], int(f.mask.sum())) for f in found) == [
        ("cardboard_box", 1600 - 144),
        ("item", 144),
    ]


def test_a_foreground_blob_without_a_seed_is_dropped_not_joined_to_a_far_instance():
    labels = np.zeros((60, 90), dtype=np.int64)
    labels[10:40, 10:40] = 1  # a parcel with a clear interior
    interior = targets.normalised_interior(labels)
    probs = _one_hot_probs(np.array([0, 1]), labels)
    probs[:, 50:53, 70:73] = 0.0
    probs[1, 50:53, 70:73] = 1.0  # a stray 3 x 3 foreground speck, far away, too thin for a seed
    found = group_instances(probs, interior, GroupingParams(min_area_fraction=0.0))
    assert len(found) == 1
    ys, xs = np.nonzero(found[0].mask)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (10, 39, 10, 39)  # its box is the parcel's alone


def test_a_category_that_needs_confidence_is_named_only_when_the_model_is_sure():
    params = GroupingParams(category_confidence=(0.0, 0.6, 0.6, 0.6, 0.0))
    assert params.category(np.array([0.2, 0.7, 0.05, 0.05, 0.0])) == 1  # a sure mailer stays a mailer
    assert (
        params.category(np.array([0.3, 0.45, 0.05, 0.05, 0.15])) == 0
    )  # an unsure one: box, the likelier free one
    assert params.category(np.array([0.05, 0.1, 0.5, 0.05, 0.3])) == 4  # an unsure bag: the item
    assert GroupingParams().category(np.array([0.3, 0.45, 0.05, 0.05, 0.15])) == 1  # no setting: the argmax


def test_each_category_has_its_own_seed_threshold():
    labels = np.zeros((40, 80), dtype=np.int64)
    labels[5:35, 5:35] = 1  # a box, peak interior 0.9
    labels[15:25, 50:60] = 2  # an item, peak interior 0.35 (small things never reach the box's value)
    probs = _one_hot_probs(np.array([0, 1, 5]), labels)
    interior = np.where(labels == 1, 0.9, np.where(labels == 2, 0.35, 0.0))
    shared = GroupingParams(seed_threshold=0.6, min_area_fraction=0.0)
    assert [f.class_index for f in group_instances(probs, interior, shared)] == [1]  # the item is lost
    per_class = GroupingParams(
        seed_threshold=0.6, class_seed_thresholds=(0.6, 0.6, 0.6, 0.6, 0.3), min_area_fraction=0.0
    )
    assert sorted(f.class_index for f in group_instances(probs, interior, per_class)) == [1, 5]
    with pytest.raises(ValueError, match="class_seed_thresholds has 2 values for 5 categories"):
        group_instances(probs, interior, GroupingParams(class_seed_thresholds=(0.5, 0.5)))


def test_seeds_grown_down_the_interior_map_keep_a_parcel_whose_seed_is_far_from_its_border():
    # Parcel A (x < 60) is sure of itself only at its far left; parcel B (x >= 62) everywhere. Nearest-seed
    # assignment hands A's right part to B, across the valley at x = 60..61; growing down the levels does not.
    interior = np.zeros((20, 100))
    interior[:, :10] = 0.9
    interior[:, 10:60] = 0.45
    interior[:, 62:] = 0.9
    labels = np.zeros((20, 100), dtype=np.int64)
    labels[:, :61] = 1
    labels[:, 61:] = 2
    probs = _one_hot_probs(np.array([0, 1, 1]), labels)
    nearest = GroupingParams(seed_threshold=0.6, min_area_fraction=0.0)
    grown = GroupingParams(seed_threshold=0.6, min_area_fraction=0.0, growth_levels=(0.1, 0.5, 0.3))
    assert grown.growth_levels == (0.5, 0.3, 0.1)  # always walked from the top down
    truth_a = labels == 1
    best = {
        name: max(geometry.mask_iou(f.mask, truth_a) for f in group_instances(probs, interior, params))
        for name, params in (("nearest", nearest), ("grown", grown))
    }
    assert best["nearest"] < 0.7
    assert best["grown"] > 0.95


def test_uncertainty_rises_with_each_decision_the_model_is_unsure_of():
    scene = generate_scene("conveyor_topdown", 5, (96, 96))
    classes = np.array([0] + [CATEGORIES.index(i.category) + 1 for i in scene.instances])
    probs = np.full((len(CATEGORIES) + 1, 96, 96), 0.002)
    probs[classes[scene.labels], np.arange(96)[:, None], np.arange(96)[None, :]] = 0.99
    interior = np.where(targets.normalised_interior(scene.labels) > 0.5, 0.98, 0.02)
    sure = image_uncertainty(probs, interior, [0.95] * len(scene.instances))
    assert sure < 0.1
    dim = probs.copy()  # a scene the model half reads as background (e.g. lit as it never saw)
    dim[0] = np.where(scene.labels > 0, 0.45, 0.6)
    dim[1:] *= (1 - dim[0]) / dim[1:].sum(axis=0)
    assert image_uncertainty(dim, interior, [0.95] * len(scene.instances)) > sure + 0.1
    unsure_split = np.where(scene.labels > 0, 0.5, interior)  # where does one parcel end?
    assert image_uncertainty(probs, unsure_split, [0.95] * len(scene.instances)) > sure + 0.1
    assert image_uncertainty(probs, interior, [0.3] * len(scene.instances)) > sure + 0.1


@pytest.mark.slow  # trains or evaluates for more than a few seconds: not in make test-fast
def test_short_training_run_lowers_the_loss(tmp_path):
    config = {
        "input_size": 64,
        "data": {"synthetic": {"count": 8, "seed": 1, "scene_size": 64, "fresh": False}},
        "epochs": 6,
        "batch_size": 4,
        "lr": 3e-3,
        "out": str(tmp_path / "tiny.pt"),
        "seed": 0,
    }
    seen = []
    result = train(config, progress=seen.append)
    losses = [h["loss"] for h in load_checkpoint(result["checkpoint"])[1]["history"]]
    assert len(losses) == 6 and losses[-1] < losses[0] * 0.9
    assert seen[-1]["epoch"] == 6 and seen[-1]["fraction"] == pytest.approx(1.0)
    assert {"epochs", "loss", "eta_seconds"} <= set(seen[0])


def test_the_contact_band_lies_where_two_parcels_touch_and_weighs_only_the_interior_loss_there():
    labels = np.zeros((40, 60), dtype=np.int64)
    labels[5:20, 5:20] = 1  # two boxes side by side, touching along x = 20
    labels[5:20, 20:35] = 2
    labels[25:35, 45:55] = 3  # a lone box
    semantic, interior = targets.instance_targets(labels, np.array([0, 1, 1, 1]), (80, 128))
    semantic, interior = torch.from_numpy(semantic).long()[None], torch.from_numpy(interior)[None]
    band = contact_band(semantic, interior)[0].numpy()
    ys, xs = np.nonzero(band)
    assert band.any() and set(np.unique(xs)) <= {8, 9, 10, 11} and ys.min() >= 2 and ys.max() <= 10
    assert not band[12:18, 22:28].any()  # the lone box's outline is not a contact
    # A wrong interior value inside the band costs contact_weight times as much; elsewhere the same.
    logits = torch.logit(interior.clamp(0.02, 0.98))
    out = {"semantic": torch.zeros(1, 2, 40, 64), "interior": logits[:, None].clone()}
    y, x = (int(v[0]) for v in np.nonzero(band & (interior[0].numpy() == 0)))  # a border pixel: target 0
    assert interior[0, 15, 25] == 1.0  # the lone box's centre: target 1, the same error mirrored
    wrong_in_band = {**out, "interior": out["interior"].clone()}
    wrong_in_band["interior"][0, 0, y, x] = 6.0
    wrong_elsewhere = {**out, "interior": out["interior"].clone()}
    wrong_elsewhere["interior"][0, 0, 15, 25] = -6.0  # inside the lone box
    for contact_weight, expected in ((1.0, 1.0), (5.0, 5.0)):
        base = compute_loss(out, semantic, interior, contact_weight)
        in_band, elsewhere = (
            compute_loss(o, semantic, interior, contact_weight) - base
            for o in (wrong_in_band, wrong_elsewhere)
        )
        ratio = float(in_band / elsewhere)
        assert ratio == pytest.approx(expected, rel=0.05)


@pytest.mark.slow  # trains or evaluates for more than a few seconds: not in make test-fast
def test_steps_fix_the_number_of_optimizer_steps_across_epochs(tmp_path):
    config = {
        "input_size": 64,
        "data": {"synthetic": {"count": 8, "seed": 1, "scene_size": 64, "fresh": False}},
        "epochs": 1,
        "steps": 5,
        "batch_size": 4,
        "lr": 3e-3,
        "out": str(tmp_path / "tiny.pt"),
        "seed": 0,
    }
    seen = []
    result = train(config, progress=seen.append)
    assert result["steps"] == 5  # 2 steps per epoch: three epochs, the last cut short
    assert [s["epoch"] for s in seen] == [1, 2, 3] and seen[-1]["fraction"] == pytest.approx(1.0)


@pytest.mark.slow  # trains or evaluates for more than a few seconds: not in make test-fast
def test_a_continuation_keeps_the_inits_input_size_unless_the_config_sets_one(tmp_path):
    data = {"synthetic": {"count": 4, "seed": 1, "scene_size": 64, "fresh": False}}
    first = train(
        {"input_size": 64, "data": data, "epochs": 1, "batch_size": 4, "out": str(tmp_path / "a.pt")}
    )
    same = train(
        {
            "init": first["checkpoint"],
            "data": data,
            "epochs": 1,
            "batch_size": 4,
            "out": str(tmp_path / "b.pt"),
        }
    )
    larger = train(
        {
            "init": first["checkpoint"],
            "input_size": 96,
            "data": data,
            "epochs": 1,
            "batch_size": 4,
            "out": str(tmp_path / "c.pt"),
        }
    )
    assert load_checkpoint(same["checkpoint"])[1]["input_size"] == 64
    _, meta = load_checkpoint(larger["checkpoint"])
    assert meta["input_size"] == 96 and meta["data"]["init"] == first["checkpoint"]
    image = generate_scene("floor_pile", 3, (80, 120)).image  # the continued model predicts at its new size
    assert UniversalPredictor.from_checkpoint(larger["checkpoint"]).dense_maps(image)[3].shape[1:] == (32, 48)


def test_training_precision_bf16_autocasts_the_forward_pass_only(tmp_path):
    assert training_dtype("fp32") is None and training_dtype("bf16") is torch.bfloat16
    assert training_dtype("auto") in (None, torch.bfloat16)
    with pytest.raises(ValueError):
        training_dtype("fp16")
    config = {
        "input_size": 64,
        "data": {"synthetic": {"count": 8, "seed": 1, "scene_size": 64, "fresh": False}},
        "epochs": 2,
        "batch_size": 4,
        "lr": 3e-3,
        "out": str(tmp_path / "bf16.pt"),
        "seed": 0,
        "precision": "bf16",
    }
    result = train(config)
    model, meta = load_checkpoint(result["checkpoint"])
    assert meta["data"]["precision"] == "bf16" and np.isfinite(result["loss"])
    assert all(t.dtype == torch.float32 for t in model.state_dict().values() if t.is_floating_point())


def test_the_training_device_is_checked_and_the_checkpoint_comes_back_to_the_cpu(tmp_path):
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown training device"):
        resolve_device("mps")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")
    data = {"synthetic": {"count": 4, "seed": 1, "scene_size": 64, "fresh": False}}
    result = train(
        {
            "input_size": 64,
            "data": data,
            "steps": 2,
            "batch_size": 4,
            "device": "auto",
            "out": str(tmp_path / "d.pt"),
        }
    )
    _, meta = load_checkpoint(result["checkpoint"])
    assert result["device"] == meta["data"]["device"] == resolve_device("auto").type


def test_save_load_predict_round_trip(tmp_path):
    torch.manual_seed(0)
    model = build_model("unet_s").eval()
    meta = make_meta(
        "unet_s",
        CATEGORIES,
        64,
        grouping={"seed_threshold": 0.0, "foreground_threshold": 1.01, "min_area_fraction": 0.0},
    )
    path = save_checkpoint(tmp_path / "m.pt", model, meta)
    loaded = UniversalPredictor.from_checkpoint(path)
    direct = UniversalPredictor(model, meta)
    image = generate_scene("floor_pile", 2, (90, 120)).image
    a, b = loaded.predict(image), direct.predict(image)
    assert loaded.categories == CATEGORIES
    assert 0.0 <= a.uncertainty <= 1.0 and a.uncertainty == pytest.approx(b.uncertainty)
    assert a.features.dtype == np.float32 and a.features.ndim == 1
    np.testing.assert_allclose(a.features, b.features, atol=1e-6)
    # Thresholds that accept everything force at least one instance out of random weights.
    assert a.instances and len(a.instances) == len(b.instances)
    inst = a.instances[0]
    assert isinstance(inst, Instance) and inst.mask.shape == (90, 120) and inst.mask.dtype == bool
    assert inst.category in CATEGORIES and 0.0 <= inst.score <= 1.0
    assert geometry.mask_iou(geometry.shape_to_mask(inst.shape, 90, 120), inst.mask) > 0.9


def test_test_time_flips_give_mirror_images_mirrored_maps_and_continuations_keep_them(tmp_path):
    torch.manual_seed(0)
    model = build_model("unet_s").eval()
    image = generate_scene("floor_pile", 4, (120, 90)).image  # 64 x 48 at input 64: padded on the right
    plain = UniversalPredictor(model, make_meta("unet_s", CATEGORIES, 64))
    flips = UniversalPredictor(model, make_meta("unet_s", CATEGORIES, 64, test_time_flips=["x", "y", "xy"]))
    probs, interior, _, coarse = flips.dense_maps(image)
    plain_coarse = plain.dense_maps(image)[3]
    assert np.abs(plain_coarse - coarse).max() > 1e-3
    for axis in (1, 0):  # left-right, up-down
        mirror = np.ascontiguousarray(np.flip(image, axis))
        m_probs, m_interior, _, m_coarse = flips.dense_maps(mirror)
        # Averaging an image's maps with all its mirror images' makes the prediction symmetric, exactly.
        np.testing.assert_allclose(m_coarse, np.flip(coarse, axis + 1), atol=1e-5)
        # At image resolution the last valid rows and columns interpolate towards the padding.
        np.testing.assert_allclose(m_interior, np.flip(interior, axis), atol=2e-3)
        np.testing.assert_allclose(m_probs, np.flip(probs, axis + 1), atol=2e-3)
        assert (
            np.abs(plain.dense_maps(mirror)[3] - np.flip(plain_coarse, axis + 1)).max() > 1e-3
        )  # not by itself
    with pytest.raises(ValueError, match="unknown test-time flips"):
        UniversalPredictor(model, make_meta("unet_s", CATEGORIES, 64, test_time_flips=["z"]))

    data = {"synthetic": {"count": 4, "seed": 1, "scene_size": 64, "fresh": False}}
    rescorer = fit_rescorer(np.eye(len(FEATURES)).repeat(2, axis=0), [True, False] * len(FEATURES)).to_meta()
    base_meta = {**make_meta("unet_s", CATEGORIES, 64, test_time_flips=["x"]), "rescorer": rescorer}
    base = save_checkpoint(tmp_path / "base.pt", model, base_meta)
    tuned = train(
        {"init": str(base), "data": data, "epochs": 1, "batch_size": 4, "out": str(tmp_path / "t.pt")}
    )
    tuned_meta = load_checkpoint(tuned["checkpoint"])[1]
    assert tuned_meta["test_time_flips"] == ["x"]  # its threshold was tuned with it
    assert tuned_meta["rescorer"] == rescorer  # and its shapes' rescorer fitted with it


def test_evaluator_agrees_with_direct_pycocotools():
    data, samples = synthetic_coco(3, seed=5, size=(96, 96))
    pristine = json.loads(json.dumps(data))  # COCOeval rewrites ground-truth segmentations in place
    rng = np.random.default_rng(0)
    evaluator = CocoMaskEvaluator(coco_from_dict(data))
    direct_results = []
    for image_id, _image in samples:
        preds = []
        for ann in [a for a in data["annotations"] if a["image_id"] == image_id]:
            mask = (
                geometry.rle_to_mask(ann["segmentation"])
                if isinstance(ann["segmentation"], dict)
                else geometry.shape_to_mask(
                    [[list(zip(p[::2], p[1::2], strict=True))] for p in ann["segmentation"]], 96, 96
                )
            )
            mask = mask.copy()
            mask[: int(rng.integers(0, 20))] = False  # imperfect predictions
            score = float(rng.uniform(0.1, 1.0))
            category = CATEGORIES[ann["category_id"] - 1 if rng.random() < 0.8 else int(rng.integers(0, 5))]
            preds.append(Instance(mask=mask, category=category, score=score))
            direct_results.append(
                {
                    "image_id": image_id,
                    "category_id": CATEGORIES.index(category) + 1,
                    "segmentation": geometry.mask_to_rle(mask),
                    "score": score,
                }
            )
        evaluator.update(image_id, preds)
    ours = evaluator.summarize()
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = pristine
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(direct_results), iouType="segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ours["mask_ap"] == pytest.approx(ev.stats[0], abs=1e-4)
    assert ours["mask_ap50"] == pytest.approx(ev.stats[1], abs=1e-4)
    assert ours["mask_ap75"] == pytest.approx(ev.stats[2], abs=1e-4)


def test_a_paired_bootstrap_of_two_models_on_resampled_images_favours_the_better_one():
    data, samples = synthetic_coco(6, seed=8, size=(96, 96))
    exact, rough = CocoMaskEvaluator(coco_from_dict(data)), CocoMaskEvaluator(coco_from_dict(data))
    for image_id, _image in samples:
        truth = [
            geometry.rle_to_mask(a["segmentation"])
            if isinstance(a["segmentation"], dict)
            else geometry.shape_to_mask(
                [[list(zip(p[::2], p[1::2], strict=True))] for p in a["segmentation"]], 96, 96
            )
            for a in data["annotations"]
            if a["image_id"] == image_id
        ]
        cats = [CATEGORIES[a["category_id"] - 1] for a in data["annotations"] if a["image_id"] == image_id]
        exact.update(
            image_id, [Instance(mask=m, category=c, score=0.9) for m, c in zip(truth, cats, strict=True)]
        )
        rough.update(
            image_id,
            [
                Instance(mask=np.roll(m, 6, axis=1), category=c, score=0.9)
                for m, c in zip(truth, cats, strict=True)
            ],
        )
    first = exact.summarize()
    assert (
        exact.summarize() == first and first["mask_ap"] > rough.summarize()["mask_ap"]
    )  # summarize can rerun
    better = paired_bootstrap(exact, rough, draws=20, seed=1)
    assert better["mean_difference"] > 0 and better["ci95"][0] > 0 and better["share_a_at_least_b"] == 1.0
    assert paired_bootstrap(rough, rough, draws=5)["ci95"] == [0.0, 0.0]
    # every resample keeps each image's ground truth: exact masks score AP 1 in every draw, no predictions 0
    assert first["mask_ap"] == 1.0
    nothing = CocoMaskEvaluator(coco_from_dict(data))
    nothing.image_ids = list(exact.image_ids)
    assert paired_bootstrap(exact, nothing, draws=5, seed=2)["ci95"] == [1.0, 1.0]
    both = paired_bootstrap(exact, rough, draws=20, seed=1, metrics=("mask_ap", "mask_ap50"))
    assert both["ci95"] == better["ci95"] and both["per_metric"]["mask_ap"]["ci95"] == better["ci95"]
    assert (
        both["per_metric"]["mask_ap50"]["mean_difference"] >= 0
    )  # a 6 px shift still overlaps a lot at IoU 0.5
    assert both["per_metric"]["mask_ap50"]["mean_difference"] < both["mean_difference"]


def test_a_subset_of_the_images_is_scored_from_the_predictions_already_collected():
    data, samples = synthetic_coco(3, seed=9, size=(96, 96))
    truth = {
        image_id: [
            (
                geometry.rle_to_mask(a["segmentation"])
                if isinstance(a["segmentation"], dict)
                else geometry.shape_to_mask(
                    [[list(zip(p[::2], p[1::2], strict=True))] for p in a["segmentation"]], 96, 96
                ),
                CATEGORIES[a["category_id"] - 1],
            )
            for a in data["annotations"]
            if a["image_id"] == image_id
        ]
        for image_id, _image in samples
    }
    first, *others = sorted(truth)
    mixed, alone = CocoMaskEvaluator(coco_from_dict(data)), CocoMaskEvaluator(coco_from_dict(data))
    for image_id, shapes in truth.items():  # exact masks on the first image, shifted ones on the others
        shift = 0 if image_id == first else 8
        found = [Instance(mask=np.roll(m, shift, axis=1), category=c, score=0.9) for m, c in shapes]
        mixed.update(image_id, found)
        if image_id == others[0]:
            alone.update(image_id, found)
    assert mixed.summarize([first])["mask_ap"] == 1.0
    assert mixed.summarize()["mask_ap"] < 1.0
    assert mixed.summarize([others[0]]) == alone.summarize()  # the same as collecting that image alone
    assert mixed.summarize([10_000])["mask_ap"] == 0.0  # no image of the subset was predicted


@pytest.mark.slow  # trains or evaluates for more than a few seconds: not in make test-fast
def test_evaluate_against_another_checkpoint_scores_both_on_the_same_scenes_and_bootstraps_the_gap(
    tmp_path, capsys
):
    from ml.universal.evaluate import DEFAULT_CHECKPOINT, evaluate_synthetic
    from ml.universal.evaluate import main as evaluate_main

    barely = train(
        {
            "input_size": 64,
            "data": {"synthetic": {"count": 4, "seed": 1, "scene_size": 64}},
            "epochs": 1,
            "batch_size": 4,
            "out": str(tmp_path / "barely.pt"),
        }
    )["checkpoint"]
    evaluate_main(["--synthetic", "3", "--seed", "1234", "--against", barely, "--draws", "10", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["a"]["checkpoint"] == str(DEFAULT_CHECKPOINT) and report["b"]["checkpoint"] == barely
    assert (
        report["a"]["mask_ap"] == evaluate_synthetic(DEFAULT_CHECKPOINT, 3, 1234)["mask_ap"]
    )  # the same scenes
    assert report["a"]["mask_ap"] > report["b"]["mask_ap"]
    gap = report["a_minus_b"]
    assert gap["draws"] == 10 and gap["ci95"][0] > 0 and gap["share_a_at_least_b"] == 1.0
    assert (
        set(gap["per_metric"]) == {"mask_ap", "mask_ap50"}
        and gap["per_metric"]["mask_ap50"]["mean_difference"] > 0
    )
    with pytest.raises(SystemExit):
        evaluate_main(["--against", barely])  # no scenes to compare on


@pytest.mark.slow  # trains or evaluates for more than a few seconds: not in make test-fast
def test_fine_tune_and_evaluate_checkpoint_on_coco_files(tmp_path):
    train_json = write_dataset(tmp_path / "train", "conveyor_topdown", 4, seed=40, size=(64, 80))
    val_json = write_dataset(tmp_path / "val", "conveyor_topdown", 2, seed=90, size=(64, 80))
    base = save_checkpoint(tmp_path / "base.pt", build_model("unet_s"), make_meta("unet_s", CATEGORIES, 64))
    seen = []
    result = fine_tune(
        base, train_json, val_json, tmp_path / "ft.pt", budget_seconds=60, epochs=2, progress=seen.append
    )
    assert {"mask_ap", "mask_ap50", "checkpoint"} <= set(result)
    assert [s["epoch"] for s in seen] == [1, 2]
    floored = fine_tune(
        base, train_json, val_json, tmp_path / "ft5.pt", budget_seconds=60, epochs=2, min_steps=5
    )
    assert result["steps"] == 2 and floored["steps"] == 5  # 4 images, one batch an epoch; a floor of 5 steps
    again = evaluate_checkpoint(result["checkpoint"], val_json, tmp_path / "val")
    assert again["images"] == 2 and again["mask_ap"] == pytest.approx(result["mask_ap"], abs=1e-6)
    assert set(again["per_class"]) == set(CATEGORIES) and again["seconds_per_image"] > 0
    # Fine-tuning on a few images keeps BatchNorm on the base's statistics; the weights learn.
    before, after = (
        load_checkpoint(base)[0].state_dict(),
        load_checkpoint(result["checkpoint"])[0].state_dict(),
    )
    stats = [k for k in before if k.endswith(("running_mean", "running_var"))]
    assert stats and all(torch.equal(before[k], after[k]) for k in stats)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.endswith(".weight"))
    # The loss is the base's: a base trained with the seams weighted passes its weight on.
    assert load_checkpoint(result["checkpoint"])[1]["data"]["contact_weight"] == 1.0  # none recorded: 1
    seamed_meta = make_meta("unet_s", CATEGORIES, 64, data={"contact_weight": 5.0})
    seamed = save_checkpoint(tmp_path / "seamed.pt", build_model("unet_s"), seamed_meta)
    inherited = fine_tune(seamed, train_json, None, tmp_path / "ft_seamed.pt", budget_seconds=60, steps=1)
    assert load_checkpoint(inherited["checkpoint"])[1]["data"]["contact_weight"] == 5.0
    chosen = fine_tune(
        seamed, train_json, None, tmp_path / "ft_one.pt", budget_seconds=60, steps=1, contact_weight=2.0
    )
    assert load_checkpoint(chosen["checkpoint"])[1]["data"]["contact_weight"] == 2.0


@pytest.mark.slow  # trains or evaluates for more than a few seconds: not in make test-fast
def test_a_rehearsal_mix_adds_fresh_base_scenes_to_a_fine_tune_at_the_same_step_count(tmp_path):
    train_json = write_dataset(tmp_path / "train", "conveyor_topdown", 4, seed=40, size=(64, 80))
    val_json = write_dataset(tmp_path / "val", "conveyor_topdown", 2, seed=90, size=(64, 80))
    base = save_checkpoint(tmp_path / "base.pt", build_model("unet_s"), make_meta("unet_s", CATEGORIES, 64))
    result = fine_tune(
        base, train_json, val_json, tmp_path / "ft.pt", budget_seconds=60, epochs=2, batch_size=4, rehearsal=4
    )
    meta = load_checkpoint(result["checkpoint"])[1]
    assert result["steps"] == 2  # the labelled images set the steps; rehearsal replaces repeats of them
    assert meta["data"]["images_per_epoch"] == 8 and meta["data"]["rehearsal"]["synthetic"]["count"] == 4
    mix = RehearsalMix(
        CocoDataset(train_json, CATEGORIES, 64),
        SyntheticDataset(sorted(DOMAINS), 2, 5, 64, CATEGORIES, scene_size=64),
    )
    assert len(mix) == 6
    labelled, rehearsed = mix[3][0].clone(), mix[4][0].clone()
    assert labelled.shape == rehearsed.shape == (3, 64, 64)
    mix.set_epoch(1)
    assert not torch.equal(rehearsed, mix[4][0])  # new synthetic scenes every epoch


def test_shipped_base_checkpoint_loads_and_finds_parcels():
    from ml.universal.evaluate import DEFAULT_CHECKPOINT

    assert DEFAULT_CHECKPOINT.stat().st_size < 25e6
    predictor = UniversalPredictor.from_checkpoint(DEFAULT_CHECKPOINT)
    assert predictor.categories == CATEGORIES
    assert {"architecture", "categories", "data", "metrics", "date"} <= set(predictor.meta)
    result = predictor.predict(generate_scene("pallet_stack", 1234, (256, 256)).image)
    assert any(inst.category == "cardboard_box" for inst in result.instances)


@pytest.mark.slow  # trains or evaluates for more than a few seconds: not in make test-fast
def test_tuning_the_grouping_picks_a_threshold_per_category_and_never_scores_below_the_shared_one():
    from ml.universal.evaluate import DEFAULT_CHECKPOINT
    from ml.universal.tuning import GROWTH_LEVELS, SEED_THRESHOLDS, tune_grouping

    model, meta = load_checkpoint(DEFAULT_CHECKPOINT)
    meta = {**meta, "input_size": 256, "test_time_flips": []}  # cheaper maps; the search is the same
    spec = {"synthetic": {"count": 3, "seed": 900000}}
    best = tune_grouping(model, meta, spec)
    grouping = GroupingParams(**meta["grouping"])
    assert grouping.split_seeds_by_class and grouping.growth_levels == GROWTH_LEVELS
    assert len(grouping.class_seed_thresholds) == len(CATEGORIES)
    assert set(grouping.class_seed_thresholds) <= set(SEED_THRESHOLDS)
    tried = meta["metrics"]["seed_threshold_search"]
    assert len(tried) == len(SEED_THRESHOLDS) * (1 + len(CATEGORIES)) - len(
        CATEGORIES
    )  # each class skips the shared one
    assert (
        best["mask_ap"] >= tried[str(grouping.seed_threshold)] == max(tried[str(t)] for t in SEED_THRESHOLDS)
    )
    # The metrics it reports are those of the grouping it stored.
    predictor = UniversalPredictor(model, meta)
    data, samples = synthetic_coco(3, 900000)
    evaluator = CocoMaskEvaluator(coco_from_dict(data))
    for image_id, image in samples:
        evaluator.update(image_id, predictor.predict(image).instances)
    assert evaluator.summarize()["mask_ap"] == best["mask_ap"]

"""A shape's score from all of its evidence: the rescorer's features, its fit, the predictor and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ml.synth import generate_scene
from ml.universal import rescore as rescore_module
from ml.universal.checkpoint import load_checkpoint, save_checkpoint
from ml.universal.evaluate import DEFAULT_CHECKPOINT
from ml.universal.grouping import RawInstance
from ml.universal.predictor import UniversalPredictor, parse_flips
from ml.universal.rescoring import FEATURES, Rescorer, fit_rescorer, shape_features


def _maps() -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities (2, 20, 20): background 0.2 on the left half, 0.9 on the right; interior 0.6 / 0.1."""
    probs = np.zeros((2, 20, 20), np.float32)
    probs[0, :, :10], probs[0, :, 10:] = 0.2, 0.9
    probs[1] = 1 - probs[0]
    interior = np.where(np.arange(20) < 10, 0.6, 0.1).astype(np.float32)[None].repeat(20, axis=0)
    return probs, interior


def _box(x0: int, x1: int) -> np.ndarray:
    mask = np.zeros((20, 20), bool)
    mask[5:15, x0:x1] = True
    return mask


def test_a_shapes_features_are_its_evidence_and_what_the_maps_say_under_its_mask():
    probs, interior = _maps()
    grown = RawInstance(_box(0, 10), 1, 0.7, origin="grown", centre=0.7)
    x = dict(zip(FEATURES, shape_features(grown, probs, interior), strict=True))
    assert x["centre"] == pytest.approx(0.7) and x["seeded"] == 0.0
    assert x["log_centre"] == pytest.approx(np.log(0.7)) and x["log_seeded"] == pytest.approx(np.log(1e-3))
    assert (x["origin_grown"], x["origin_confirmed_by_box"], x["origin_confirmed_by_mask"]) == (1.0, 0.0, 0.0)
    assert x["foreground"] == pytest.approx(0.8) and x["interior"] == pytest.approx(0.6)
    seeded = RawInstance(_box(5, 15), 1, 0.3, seeded=0.3)
    half = dict(zip(FEATURES, shape_features(seeded, probs, interior), strict=True))
    assert half["foreground"] == pytest.approx((0.8 + 0.1) / 2) and half["origin_grown"] == 0.0


def test_the_fit_learns_which_evidence_tells_a_package_and_ranks_by_it():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (4000, len(FEATURES)))
    foreground = FEATURES.index("foreground")
    # Truth: only the foreground under a shape tells a package; the centre's score is noise here.
    correct = rng.random(4000) < 1 / (1 + np.exp(-(8 * x[:, foreground] - 4)))
    rescorer = fit_rescorer(x, correct, l2=1.0)
    weights = np.abs(rescorer.weights)
    assert weights.argmax() == foreground and weights[foreground] > 5 * np.delete(weights, foreground).max()
    test = rng.uniform(0, 1, (200, len(FEATURES)))
    p = rescorer.probability(test)
    ranks = np.argsort(np.argsort(p)), np.argsort(np.argsort(test[:, foreground]))
    assert np.corrcoef(*ranks)[0, 1] > 0.98  # ranked by the foreground, the noise features barely count
    # Shapes weighted 0 do not count: flipping their outcomes changes nothing.
    weight = np.r_[np.ones(3000), np.zeros(1000)]
    flipped = np.r_[correct[:3000], ~correct[3000:]]
    same = fit_rescorer(x, flipped, weight), fit_rescorer(x, correct, weight)
    assert same[0].weights == pytest.approx(same[1].weights)


def test_the_fit_refuses_outcomes_of_one_kind_and_features_of_the_wrong_width():
    x = np.zeros((5, len(FEATURES)))
    with pytest.raises(ValueError, match="both shapes that match"):
        fit_rescorer(x, [True] * 5)
    with pytest.raises(ValueError, match=f"expected features \\(N, {len(FEATURES)}\\)"):
        fit_rescorer(np.zeros((5, 3)), [True, False] * 2 + [True])


def test_a_checkpoints_rescorer_round_trips_and_one_of_other_features_is_refused_by_name():
    rescorer = fit_rescorer(np.eye(len(FEATURES)).repeat(2, axis=0), [True, False] * len(FEATURES))
    assert Rescorer.from_meta(json.loads(json.dumps(rescorer.to_meta()))) == rescorer
    assert Rescorer.from_meta(None) is None
    with pytest.raises(ValueError, match="rescorer uses features"):
        Rescorer.from_meta({**rescorer.to_meta(), "features": ["centre"]})


def test_the_predictor_scores_each_shape_by_its_rescorer_before_calibration(tmp_path):
    model, meta = load_checkpoint(DEFAULT_CHECKPOINT)
    meta = {k: v for k, v in meta.items() if k not in ("score_calibration", "rescorer")}
    image = generate_scene("pallet_stack", 3, (160, 192)).image
    torch.set_num_threads(1)
    plain = UniversalPredictor(model, meta)
    probs, interior, features, coarse = plain.dense_maps(image)
    raw, wprobs, winterior = plain.raw_instances(probs, interior, coarse)
    assert raw, "the shipped base finds packages on a synthetic pallet stack"
    # A rescorer that trusts the foreground under a shape only.
    weights = tuple(4.0 if name == "foreground" else 0.0 for name in FEATURES)
    rescorer = Rescorer(FEATURES, (0.0,) * len(FEATURES), (1.0,) * len(FEATURES), weights, -2.0)
    path = tmp_path / "rescored.pt"
    save_checkpoint(path, model, {**meta, "rescorer": rescorer.to_meta()})
    rescored = UniversalPredictor.from_checkpoint(path).from_maps(probs, interior, features, coarse)
    expected = sorted(
        (
            1 / (1 + np.exp(-(4 * shape_features(r, wprobs, winterior)[FEATURES.index("foreground")] - 2)))
            for r in raw
        ),
        reverse=True,
    )
    assert [i.score for i in rescored.instances] == pytest.approx(expected)


def test_the_cli_fits_on_training_shapes_chooses_on_val_and_drops_the_old_calibration(
    box_set, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(rescore_module, "SYNTHETIC_FIT", {"count": 3, "seed": 700_000})
    monkeypatch.setattr(rescore_module, "NO_PACKAGE_FIT", {"count": 2, "seed": 70_000})
    monkeypatch.setattr(rescore_module, "SYNTHETIC_GUARD", {"count": 2, "seed": 900_000})
    monkeypatch.setattr(rescore_module, "SYNTHETIC_WEIGHTS", (1.0, 10.0))
    monkeypatch.setattr(rescore_module, "SYNTHETIC_FLOOR", 0.0)
    torch.set_num_threads(1)
    out = tmp_path / "rescored.pt"
    coco = str(box_set / "val.json")  # the same three scenes train and choose: the harness, not a figure
    args = [str(DEFAULT_CHECKPOINT), "--coco", coco, "--val-coco", coco, "--out", str(out)]
    for bad, named in [
        (["--set", "centre_agreement=0.6"], "unknown grouping fields ['centre_agreement']"),
        (["--set", "center_agreement"], "--set takes FIELD=NUMBER"),
        (["--input-size", "500"], "input size 500 must be a positive multiple of 32"),
        (["--flips", "x,z"], "unknown test-time flips ['z']"),
        (["--tower-sizes", "300"], "tower sizes [300] must be positive multiples of 32"),
        (["--tower-sizes", "384;512"], "--tower-sizes takes whole numbers separated by commas"),
    ]:
        with pytest.raises(SystemExit):
            rescore_module.main([*args, *bad])
        assert named in capsys.readouterr().err and not out.exists()
    assert parse_flips("none") == () and parse_flips("x,y,xy") == ("x", "y", "xy")
    fixed = ["--synthetic-floor", "0.001"]  # a fixed floor, as calibrate's, instead of the guard's rule
    rescore_module.main(
        [*args, "--set", "center_agreement=0.6", "--input-size", "320", "--flips", "x", *fixed, "--perturb"]
        + ["--tower-sizes", "384"]
    )
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["synthetic_weight"] for r in report["tried"]] == [None, 1.0, 10.0]
    assert report["validation"]["synthetic_floor"] == 0.001
    assert report["train"]["photos"] == 3 and report["train"]["perturbed"] is True
    assert report["synthetic_fit"]["shapes"] > 0
    _, meta = load_checkpoint(out)
    assert "score_calibration" not in meta and "default_threshold" not in meta
    assert meta["grouping"]["center_agreement"] == 0.6  # fitted, and stored, at the grouping it was asked for
    # ... and at the input it was asked for
    assert meta["input_size"] == 320 and meta["test_time_flips"] == ["x"] and meta["tower_sizes"] == [384]
    own = report["tried"][0]["real_box_ap50"]
    if report["chosen"] is None:  # nothing beat the checkpoint's own scores: it stays without a rescorer
        assert "rescorer" not in meta and max(r["real_box_ap50"] for r in report["tried"][1:]) <= own
    else:
        assert report["chosen"]["real_box_ap50"] > own
        assert (
            Rescorer.from_meta(meta["rescorer"]) is not None
            and meta["rescoring"]["chosen"] == report["chosen"]
        )


def test_the_choice_keeps_the_floor_beats_no_rescorer_and_gives_a_noise_sized_tie_to_the_synthetic_scenes():
    def row(weight, real, synthetic):
        return {"synthetic_weight": weight, "real_box_ap50": real, "synthetic_mask_ap": synthetic}

    own = row(None, 0.29, 0.851)
    tried = [
        own,
        row(1.0, 0.3434, 0.843),
        row(3.0, 0.3431, 0.847),
        row(10.0, 0.330, 0.850),
        row(30.0, 0.40, 0.80),
    ]
    assert rescore_module._choose(tried, floor=0.841)["synthetic_weight"] == 3.0  # 30 is under the floor
    assert rescore_module._choose(tried, floor=0.845)["synthetic_weight"] == 3.0
    assert rescore_module._choose(tried, floor=0.849)["synthetic_weight"] == 10.0
    assert rescore_module._choose([own, row(1.0, 0.28, 0.86)], floor=0.84) is None  # worse than no rescorer


def test_a_perturbed_training_photo_keeps_its_cartons_under_their_boxes():
    # a dark photo with two bright cartons; perturbed, each box still holds a bright carton
    image = np.full((120, 160, 3), 30, dtype=np.uint8)
    image[20:60, 20:70] = 220
    image[50:110, 90:150] = 200
    photo = ({"id": 1}, image, [[20.0, 20.0, 50.0, 40.0], [90.0, 50.0, 60.0, 60.0]])
    changed = 0
    for seed in range(8):
        info, out, boxes = rescore_module.perturbed(photo, np.random.default_rng(seed))
        assert info == {"id": 1} and out.dtype == np.uint8 and out.ndim == 3
        changed += out.shape != image.shape or not np.array_equal(out, image)
        grey = out.astype(float).mean(axis=2)
        for x, y, w, h in boxes:
            assert w >= 1 and h >= 1
            inside = grey[int(y + 0.25 * h) : int(y + 0.75 * h), int(x + 0.25 * w) : int(x + 0.75 * w)]
            outside = np.median(grey)
            assert inside.mean() > outside + 30
    assert changed == 8

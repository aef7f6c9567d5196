"""Scores that mean something: Platt scaling, the reliability diagram, and the calibrate CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ml.synth import write_dataset
from ml.universal import calibrate as calibrate_module
from ml.universal.calibrate import main
from ml.universal.calibration import calibrated_score, fit_platt, reliability
from ml.universal.checkpoint import load_checkpoint, save_checkpoint
from ml.universal.evaluate import DEFAULT_CHECKPOINT
from ml.universal.predictor import UniversalPredictor


def _calibrate(checkpoint, box_set, *extra: str) -> None:
    """The calibrate CLI on the test box set's val photos at a 256 px input."""
    main([str(checkpoint), "--coco", str(box_set / "val.json"), "--input-sizes", "256", *extra])


def _report(capsys) -> dict:
    """calibrate's report: the last line it printed."""
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_platt_scaling_recovers_the_map_that_made_the_outcomes():
    rng = np.random.default_rng(0)
    raw = rng.uniform(0.02, 0.98, 20_000)
    truth = {"a": 2.0, "b": -1.0}  # an over-confident score: the true probability is sharper and lower
    correct = rng.random(raw.size) < np.array([calibrated_score(r, truth) for r in raw])
    fitted = fit_platt(raw, correct)
    assert fitted["a"] == pytest.approx(2.0, abs=0.1) and fitted["b"] == pytest.approx(-1.0, abs=0.1)
    before = reliability(raw, correct)["ece"]
    after = reliability([calibrated_score(r, fitted) for r in raw], correct)["ece"]
    assert after < 0.02 < before


def test_platt_scaling_stays_finite_on_scores_that_separate_and_huge_maps_do_not_overflow():
    # A fine-tune's six val scenes (the shipped base on conveyor_topdown, seed 4321): right and wrong shapes
    # far apart but for two right ones among the wrong. Full Newton steps walked off to a = 2e10 on these;
    # the halved steps stop where the prior-corrected loss is least.
    wrong = [6e-05, 0.000115, 0.000227, 0.000601, 0.000687, 0.000885, 0.003425, 0.004154, 0.004735, 0.013404]
    wrong += [0.00316, 0.0507, 0.001516]
    right = [0.9843, 0.9834, 0.9757, 0.9886, 0.9845, 0.9788, 0.9761, 0.9570, 0.9365, 0.9867, 0.9861, 0.9775]
    right += [0.9753, 0.9720, 0.9603, 0.9444, 0.9275, 0.9900, 0.031104, 0.323611]
    raw, correct = wrong + right, [False] * len(wrong) + [True] * len(right)
    fitted = fit_platt(raw, correct)
    assert 0 < fitted["a"] < 10 and abs(fitted["b"]) < 10
    assert calibrated_score(0.99, fitted) > 0.9 > 0.1 > calibrated_score(1e-4, fitted)
    # and a stored map that large still gives probabilities, not an OverflowError
    assert calibrated_score(0.031, {"a": 5.7e10, "b": 3.6e10}) < 1e-300
    assert calibrated_score(0.99, {"a": 5.7e10, "b": 3.6e10}) == 1.0


def test_reliability_bins_count_every_score_and_the_ece_of_known_bins():
    report = reliability([0.05, 0.05, 0.95, 0.95], [False, True, True, True], bins=10)
    assert sum(b["count"] for b in report["bins"]) == 4
    first, last = report["bins"][0], report["bins"][-1]
    assert first["accuracy"] == 0.5 and last["accuracy"] == 1.0
    assert report["ece"] == pytest.approx((2 * 0.45 + 2 * 0.05) / 4)
    with pytest.raises(ValueError, match="no predictions"):
        fit_platt([], [])


def test_calibrate_chooses_on_the_photos_stores_the_calibration_and_the_predictor_uses_it(
    box_set, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(calibrate_module, "SYNTHETIC_GUARD", {"count": 3, "seed": 900_000})
    monkeypatch.setattr(calibrate_module, "NO_PACKAGE_GUARD", {"count": 2, "seed": 60_000})
    monkeypatch.setattr(calibrate_module, "SYNTHETIC_FLOOR", 0.0)  # 256 px is below the shipped file's 0.85
    # A Platt fit on three photos puts the default threshold anywhere: the seventeenth file's drew 1-2.5 shapes
    # per empty scene at 256 px through it. The guard is what the next test checks; here, the choice under it.
    monkeypatch.setattr(calibrate_module, "NO_PACKAGE_LIMIT", 3.0)
    monkeypatch.setattr(calibrate_module, "SEED_THRESHOLDS", (0.5, 0.85))
    monkeypatch.setattr(calibrate_module, "FOREGROUND_THRESHOLDS", (0.5,))
    torch.set_num_threads(1)
    out, plot = tmp_path / "calibrated.pt", tmp_path / "reliability.png"
    _calibrate(DEFAULT_CHECKPOINT, box_set, "--out", str(out), "--plot", str(plot))
    report = _report(capsys)
    _, meta = load_checkpoint(out)
    assert meta["score_calibration"] == report["score_calibration"] and meta["default_threshold"] == 0.5
    assert meta["input_size"] == 256 and report["chosen"]["input_size"] == 256
    assert list(meta["grouping"]["category_confidence"]) == [
        0.0,
        0.5,
        0.5,
        0.5,
        0.0,
    ]  # mailer, bag, envelope need it
    assert report["validation"]["images"] == 3 and plot.stat().st_size > 1000
    assert sum(b["count"] for b in report["reliability_calibrated"]["bins"]) > 0
    guarded = [  # the settings that kept both guards: the synthetic floor and no shapes on empty scenes
        r
        for r in report["tried"]
        if r.get("synthetic_mask_ap", -1) >= report["validation"]["synthetic_floor"]
        and r.get("no_package_shapes", 1e9) <= calibrate_module.NO_PACKAGE_LIMIT
    ]
    assert report["chosen"] in guarded  # the best real-photo figure among the settings that kept the guards
    assert report["chosen"]["real_box_ap50"] == max(r["real_box_ap50"] for r in guarded)
    predictor = UniversalPredictor.from_checkpoint(out)
    assert predictor.default_threshold == 0.5
    raw = predictor.from_maps(*predictor.dense_maps(np.full((64, 64, 3), 128, np.uint8))).instances
    assert all(0.0 <= inst.score <= 1.0 for inst in raw)


def test_calibrate_names_a_missing_checkpoint_and_a_guard_no_setting_keeps(
    box_set, capsys, tmp_path, monkeypatch
):
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "none.pt"), "--coco", str(tmp_path / "val.json")])
    assert exit_info.value.code == 2 and "does not exist" in capsys.readouterr().err
    monkeypatch.setattr(calibrate_module, "SYNTHETIC_GUARD", {"count": 2, "seed": 900_000})
    monkeypatch.setattr(calibrate_module, "NO_PACKAGE_GUARD", {"count": 2, "seed": 60_000})
    monkeypatch.setattr(calibrate_module, "SEED_THRESHOLDS", (0.5,))
    monkeypatch.setattr(calibrate_module, "FOREGROUND_THRESHOLDS", (0.5,))
    monkeypatch.setattr(calibrate_module, "SYNTHETIC_FLOOR", 1.01)
    monkeypatch.setattr(calibrate_module, "GUARD_TOLERANCE", -1.0)  # a floor above any mask AP
    with pytest.raises(SystemExit) as exit_info:
        _calibrate(DEFAULT_CHECKPOINT, box_set)
    assert exit_info.value.code == 2 and "no setting kept synthetic val mask AP" in capsys.readouterr().err
    # A fixed floor replaces the rule: 0 lets every setting through, whatever the rule said (and a limit on
    # empty scenes that a three-photo Platt fit cannot miss, as in the test above).
    monkeypatch.setattr(calibrate_module, "NO_PACKAGE_LIMIT", 3.0)
    _calibrate(DEFAULT_CHECKPOINT, box_set, "--synthetic-floor", "0")
    assert _report(capsys)["validation"]["synthetic_floor"] == 0.0
    # Scenes with no package: a setting that would draw more than the limit there is refused.
    monkeypatch.setattr(calibrate_module, "NO_PACKAGE_LIMIT", -1.0)
    with pytest.raises(SystemExit) as exit_info:
        _calibrate(DEFAULT_CHECKPOINT, box_set, "--synthetic-floor", "0")
    assert "at most -1.0 shapes per scene with no package" in capsys.readouterr().err


def test_a_blend_of_two_checkpoints_mixes_their_weights_by_alpha():
    from ml.universal.calibrate import blend
    from ml.universal.model import build_model

    torch.manual_seed(0)
    a, b = build_model("unet_xs"), build_model("unet_xs")
    for alpha in (0.0, 0.3, 1.0):
        mixed = blend(a, b, alpha).state_dict()
        for key, value in a.state_dict().items():
            if value.is_floating_point():
                assert torch.allclose(mixed[key], alpha * value + (1 - alpha) * b.state_dict()[key])
            else:
                assert torch.equal(mixed[key], value)  # e.g. BatchNorm's step counter
    assert not torch.equal(
        blend(a, b, 0.3).state_dict()["semantic.weight"], a.state_dict()["semantic.weight"]
    )


def test_the_contact_sheet_shows_every_picked_photo_with_its_labelled_boxes(box_set, tmp_path):
    import cv2

    from ml.universal.contact_sheet import contact_sheet

    out = contact_sheet(
        DEFAULT_CHECKPOINT, box_set / "val.json", tmp_path / "sheet.png", count=3, columns=2, tile=96
    )
    sheet = cv2.imread(str(out))
    assert sheet.shape == (2 * 96, 2 * 96, 3)  # three photos and one blank tile
    assert (sheet[96:, 96:] == 255).all() and not (sheet[:96, :96] == 255).all()
    red = (sheet[..., 2] > 200) & (sheet[..., 1] < 60) & (sheet[..., 0] < 60)
    assert red[:96, :96].any()  # the labelled boxes are drawn


@pytest.mark.slow  # trains or evaluates for more than a few seconds: not in make test-fast
def test_a_fine_tune_is_calibrated_on_its_val_split_when_the_split_has_enough_shapes(tmp_path):
    import shutil

    from ml.universal.finetune import MIN_CALIBRATION_SHAPES, calibrate_on_val

    val = write_dataset(tmp_path / "val", "conveyor_topdown", 6, seed=4321, size=(320, 320))
    checkpoint = shutil.copy(DEFAULT_CHECKPOINT, tmp_path / "fine_tuned.pt")
    model, meta = load_checkpoint(checkpoint)
    meta.pop("score_calibration", None)  # as the app's fine-tunes come out of training
    meta.pop("default_threshold", None)
    save_checkpoint(checkpoint, model, meta)
    before = UniversalPredictor.from_checkpoint(checkpoint)
    assert before.default_threshold == 0.0

    platt = calibrate_on_val(checkpoint, val)
    assert platt is not None and platt["a"] > 0
    after = UniversalPredictor.from_checkpoint(checkpoint)
    assert after.default_threshold == 0.5
    assert after.meta["score_calibration"] == platt
    assert after.meta["calibration"]["validation"]["shapes"] >= MIN_CALIBRATION_SHAPES

    # a split where every shape is wrong (its labels removed) gives no calibration: left as it was
    empty = json.loads(val.read_text()) | {"annotations": []}
    (tmp_path / "val" / "unlabelled.json").write_text(json.dumps(empty))
    untouched = shutil.copy(checkpoint, tmp_path / "untouched.pt")
    data = (tmp_path / "untouched.pt").read_bytes()
    assert calibrate_on_val(untouched, tmp_path / "val" / "unlabelled.json") is None
    assert (tmp_path / "untouched.pt").read_bytes() == data


def test_a_centre_checkpoint_is_calibrated_over_centre_thresholds_and_blends_keep_its_head(
    box_set, tmp_path, capsys, monkeypatch
):
    from ml.universal.calibrate import blend
    from ml.universal.centers import add_center_head
    from ml.universal.checkpoint import save_checkpoint
    from ml.universal.model import build_model

    # The shipped file's maps without its centre tower: the eighth file, a base with no centre head.
    shipped, meta = load_checkpoint(DEFAULT_CHECKPOINT)
    plain = build_model("unet_s").eval()
    plain.load_state_dict({k: v for k, v in shipped.state_dict().items() if not k.startswith("centers.")})
    base_path = save_checkpoint(tmp_path / "maps.pt", plain, {**meta, "architecture": "unet_s"})
    headed_path = add_center_head(base_path, tmp_path / "centres.pt")
    headed, _ = load_checkpoint(headed_path)
    torch.manual_seed(1)
    for parameter in headed.parameters():  # a "fine-tune": every weight moved
        parameter.data += 0.01 * torch.randn_like(parameter)
    mixed = blend(headed, plain, 0.5).state_dict()
    ours = headed.state_dict()
    assert torch.equal(mixed["centers.1.weight"], ours["centers.1.weight"])  # the base has no head to mix in
    assert torch.allclose(
        mixed["semantic.weight"], 0.5 * ours["semantic.weight"] + 0.5 * plain.state_dict()["semantic.weight"]
    )
    with torch.no_grad():
        # An untrained head finds no centre; this one finds its local maxima, with boxes of about 20 px.
        headed.centers[1].bias[0], headed.centers[1].bias[1:] = 1.0, 3.0
    save_checkpoint(headed_path, headed, load_checkpoint(headed_path)[1])
    monkeypatch.setattr(calibrate_module, "SYNTHETIC_GUARD", {"count": 2, "seed": 900_000})
    monkeypatch.setattr(calibrate_module, "NO_PACKAGE_GUARD", {"count": 2, "seed": 60_000})
    monkeypatch.setattr(calibrate_module, "SYNTHETIC_FLOOR", 0.0)
    monkeypatch.setattr(calibrate_module, "GUARD_TOLERANCE", 1.0)
    monkeypatch.setattr(calibrate_module, "CENTER_THRESHOLDS", (0.05, 0.2))
    monkeypatch.setattr(calibrate_module, "BOX_FALLBACKS", (0.0, 0.25))
    torch.set_num_threads(1)
    own = load_checkpoint(headed_path)[1]["grouping"]  # the checkpoint's own setting is tried too
    _calibrate(headed_path, box_set)
    report = _report(capsys)
    assert {r["center_threshold"] for r in report["tried"]} == {0.05, 0.2, own["center_threshold"]}
    assert {r["box_fallback"] for r in report["tried"]} == {0.0, 0.25, own.get("box_fallback", 0.0)}
    assert {r["seed_threshold"] for r in report["tried"]} == {
        load_checkpoint(headed_path)[1]["grouping"]["seed_threshold"]
    }


def test_the_coordinate_search_moves_one_field_at_a_time_to_a_joint_best_and_never_scores_twice():
    from ml.universal.grouping import GroupingParams
    from ml.universal.tuning import coordinate_search

    # A score that needs both fields moved (no single move from the start reaches 3), and a "guard"
    # that refuses one setting better still: the search passes it by.
    def score(g: GroupingParams) -> float:
        return (
            {0.7: 1.0, 0.5: 0.0}[g.center_agreement] + {0.0: 2.0, 1.0: 0.5}[g.seed_evidence] + g.box_fallback
        )

    scored: list[GroupingParams] = []
    best_score = [-1.0]

    def consider(g: GroupingParams) -> bool:
        scored.append(g)
        if score(g) <= best_score[0] or g.box_fallback == 0.9:  # 0.9: "below the synthetic floor"
            return False
        best_score[0] = score(g)
        return True

    space = {"center_agreement": (0.5, 0.7), "seed_evidence": (0.0, 1.0), "box_fallback": (0.0, 0.4, 0.9)}
    start = GroupingParams(center_agreement=0.5, seed_evidence=1.0, box_fallback=0.0)
    best = coordinate_search(start, space, consider)
    assert (best.center_agreement, best.seed_evidence, best.box_fallback) == (0.7, 0.0, 0.4)
    assert len(scored) == len(set(scored)) < 2 * 2 * 3  # fewer than the full grid, none twice
    assert scored[0] == start


def test_a_rescored_checkpoint_searches_only_the_grouping_fields_that_change_its_shapes():
    from ml.universal.calibrate import SEED_EVIDENCE, UNCONFIRMED_WEIGHTS, center_search_space
    from ml.universal.grouping import GroupingParams

    plain = center_search_space()
    assert plain["seed_evidence"] == SEED_EVIDENCE and plain["unconfirmed_weight"] == UNCONFIRMED_WEIGHTS
    # A rescorer reads the seed's own score, not the weighted one: any weight above 0 ranks the same.
    rescored = center_search_space(GroupingParams(unconfirmed_weight=0.25))
    assert "seed_evidence" not in rescored and rescored["unconfirmed_weight"] == (0.0, 0.25)
    assert center_search_space(GroupingParams(unconfirmed_weight=0.0))["unconfirmed_weight"] == (0.0, 0.25)
    assert {k: v for k, v in rescored.items() if k != "unconfirmed_weight"} == {
        k: v for k, v in plain.items() if k not in ("unconfirmed_weight", "seed_evidence")
    }

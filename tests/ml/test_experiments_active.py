"""The active-learning experiments: the simulated site, the label-savings measure, the simulation and headroom
CLIs end to end (tiny)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ml.experiments.active import headroom
from ml.experiments.active.config import REAL_TINY, SimConfig
from ml.experiments.active.curves import label_savings, label_savings_spread, paired_gain
from ml.experiments.active.real import captures, draw_pool, simulate_real
from ml.experiments.active.rounds import fine_tune_steps
from ml.experiments.active.site import CONDITION_GROUPS, condition_group, site_scenes, write_coco
from ml.synth import CATEGORIES
from tests.annotator.learning.scenes import tiny_checkpoint
from tests.ml.real_like import real_like_set

ROOT = Path(__file__).resolve().parents[2]


def test_label_savings_interpolates_the_active_curve():
    random_curve = [
        {"labels": 0, "mask_ap": 0.1},
        {"labels": 10, "mask_ap": 0.2},
        {"labels": 20, "mask_ap": 0.3},
    ]
    active = [{"labels": 0, "mask_ap": 0.1}, {"labels": 10, "mask_ap": 0.26}, {"labels": 20, "mask_ap": 0.34}]
    savings, needed = label_savings(random_curve, active)
    assert needed == 15.0 and savings == 0.25
    never = [{"labels": 0, "mask_ap": 0.1}, {"labels": 10, "mask_ap": 0.15}, {"labels": 20, "mask_ap": 0.2}]
    assert label_savings(random_curve, never) == (0.0, None)
    flat = [{"labels": 0, "mask_ap": 0.3}, {"labels": 20, "mask_ap": 0.3}]
    assert label_savings(flat, active) == (0.0, None)  # labels did not help random: no savings to claim


def test_the_paired_gain_averages_each_pools_lead_over_its_labelled_rounds():
    def curve(*aps):
        return [{"labels": 10 * k, "mask_ap": ap} for k, ap in enumerate(aps)]

    random_curves = [curve(0.3, 0.32, 0.34), curve(0.2, 0.25, 0.27)]
    active_curves = [curve(0.3, 0.34, 0.36), curve(0.2, 0.25, 0.25)]  # leads (+0.02, +0.02); (0, -0.02)
    gain = paired_gain(random_curves, active_curves)
    assert gain["mean"] == pytest.approx(0.005)  # pools' means 0.02 and -0.01
    assert gain["standard_error"] == pytest.approx(0.015, abs=1e-4)  # std 0.0212 / sqrt 2


def test_the_spread_of_label_savings_resamples_the_pools():
    def curve(*aps):
        return [{"labels": 10 * k, "mask_ap": ap, "mask_ap50": ap} for k, ap in enumerate(aps)]

    random_curve, active = curve(0.1, 0.2, 0.3), curve(0.1, 0.26, 0.34)  # savings 0.25 (the test above)
    same = label_savings_spread([random_curve] * 3, [active] * 3, target=0.2, draws=50)
    assert same == {"p05": 0.25, "median": 0.25, "p95": 0.25, "share_at_target": 1.0}  # no pool differs
    never = curve(0.1, 0.15, 0.2)  # a pool where the queue never reaches random's final AP
    mixed = label_savings_spread(
        [random_curve] * 4, [active, active, never, never], target=0.2, draws=400, seed=3
    )
    assert (
        mixed["p05"] == 0.0 and mixed["p95"] == 0.25
    )  # resamples of only the bad pools, and of only the good
    # only a resample of the good pools alone saves 0.2 (one in 2 ** 4); three good and one bad save 0.03
    assert 0.02 < mixed["share_at_target"] < 0.15
    assert mixed == label_savings_spread(
        [random_curve] * 4, [active, active, never, never], target=0.2, draws=400, seed=3
    )


def test_a_fine_tune_grows_with_the_labels_only_when_asked():
    assert [fine_tune_steps(SimConfig(steps=300), n) for n in (20, 100)] == [300, 300]  # fixed, the default
    grows = SimConfig(steps=300, steps_per_label=12)
    assert [fine_tune_steps(grows, n) for n in (10, 25, 60, 100)] == [300, 300, 720, 1200]  # 300 is the floor
    assert fine_tune_steps(SimConfig(steps=0, steps_per_label=12), 100) == 0  # steps 0: epochs decide


@pytest.mark.slow  # trains or evaluates for more than a few seconds: not in make test-fast
def test_simulate_cli_prints_json_and_writes_the_plot(tmp_path):
    base = tiny_checkpoint(tmp_path / "base.pt")  # 64 px
    plot = tmp_path / "al.png"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ml.experiments.active.simulate",
            "--json",
            "--base",
            str(base),
            "--plot",
            str(plot),
            "--pool",
            "8",
            "--val",
            "4",
            "--rounds",
            "2",
            "--batch",
            "2",
            "--steps",
            "0",
            "--epochs",
            "1",
            "--min-steps",
            "0",
            "--scene-size",
            "64",
            "--threads",
            "1",
            "--repeats",
            "1",
            "--near-duplicates",
            "no",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(out.stdout)
    assert set(report["curves"]) == {"random", "uncertainty+diversity"}
    assert [p["labels"] for p in report["curves"]["random"]] == [0, 2, 4]
    assert 0.0 <= report["label_savings"] <= 1.0
    assert len(report["label_savings_per_repeat"]) == 1 and len(report["load_average"]) == 3
    assert set(report["paired_gain"]) == {"mean", "standard_error"}
    spread = report["label_savings_spread"]
    assert spread["p05"] <= spread["median"] <= spread["p95"] and 0.0 <= spread["share_at_target"] <= 1.0
    assert (
        set(report["branded_share_labelled"])
        == set(report["night_share_labelled"])
        == {"random", "uncertainty+diversity"}
    )
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report["config"]["near_duplicates"] is False
    groups = {"night", "branded_day", "plain_day"}
    assert (
        sum(report["val_images_by_condition"].values()) == 4
        and set(report["val_images_by_condition"]) == groups
    )
    assert set(report["mask_ap_by_condition"]) == {"base", "random", "uncertainty+diversity"}
    assert all(
        set(aps) == groups and all(0.0 <= ap <= 1.0 for ap in aps.values())
        for aps in report["mask_ap_by_condition"].values()
    )


def test_a_site_pool_in_captures_gives_sliding_frames_of_one_scene_with_their_own_labels():
    pool = site_scenes(10, seed=5, size=64, night_share=0.5, frames=4)
    assert len(pool) == 10 and [s["id"] for s in pool] == list(range(1, 11))
    assert [s["capture"] for s in pool] == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
    for capture in (0, 1, 2):
        frames = [s for s in pool if s["capture"] == capture]
        assert len({s["domain"] for s in frames}) == 1 and len({s["night"] for s in frames}) == 1
    assert sum(s["night"] for s in pool[::4]) == 2  # half of the 3 captures, rounded
    # frames 0 and 1 of a capture are windows 32 / 3 px apart on a 96 px strip: the overlap matches
    shift = round(32 / 3)
    a, b = (s["image"].astype(int) for s in pool[:2])
    overlap_gap = np.abs(a[:, shift:] - b[:, :-shift]).mean()
    assert overlap_gap < np.abs(a - pool[4]["image"].astype(int)).mean() / 2
    for s in pool:
        h, w = s["image"].shape[:2]
        assert all(ann["image_id"] == s["id"] and ann["area"] >= 12 for ann in s["annotations"])
        assert all(0 <= ann["bbox"][0] and ann["bbox"][0] + ann["bbox"][2] <= w for ann in s["annotations"])
    single = site_scenes(6, seed=5, size=64, night_share=0.0)
    assert [s["capture"] for s in single] == list(range(6))
    with pytest.raises(ValueError, match="frames"):
        site_scenes(4, seed=5, size=64, night_share=0.0, frames=0)


def test_branded_captures_change_only_the_mailers_bags_and_envelopes_and_leave_the_rest_of_the_pool_as_it_was():
    plain = site_scenes(16, seed=3, size=64, night_share=0.25, frames=2)
    mixed = site_scenes(16, seed=3, size=64, night_share=0.25, frames=2, branded_share=0.5)
    branded = [s for s in mixed if s["branded"]]
    brandable = {CATEGORIES.index(name) + 1 for name in ("padded_mailer", "plastic_bag", "envelope")}
    assert {s["capture"] for s in branded} and len({s["capture"] for s in branded}) == 4  # half of 8 captures
    assert all(s["domain"] != "pallet_stack" for s in branded)  # boxes only there: nothing to brand
    for a, b in zip(plain, mixed, strict=True):
        assert a["annotations"] == b["annotations"] and a["night"] == b["night"]
        changed = np.any(a["image"] != b["image"], axis=2)
        if not b["branded"]:
            assert not changed.any()
            continue
        kinds = {ann["category_id"] for ann in b["annotations"]}
        assert changed.any() == bool(kinds & brandable)
        inside = np.zeros(changed.shape, bool)
        for ann in b["annotations"]:
            if ann["category_id"] in brandable:
                x, y, w, h = (round(v) for v in ann["bbox"])
                inside[y : y + h + 1, x : x + w + 1] = True
        # nothing outside the branded parcels moved (but slivers at the frame's edge, too small to be labelled)
        assert (changed & ~inside).mean() < 0.01 and changed[inside].mean() > 0.3


def test_the_coco_file_keeps_each_frames_conditions_for_the_per_condition_scores(tmp_path):
    pool = site_scenes(16, seed=3, size=64, night_share=0.25, frames=2, branded_share=0.5)
    images = json.loads(write_coco(pool, tmp_path, "pool.json").read_text())["images"]
    assert [condition_group(img) for img in images] == [condition_group(s) for s in pool]
    assert {condition_group(s) for s in pool} == set(CONDITION_GROUPS)  # every part is there to score
    night_and_branded = [s for s in pool if s["night"] and s["branded"]]
    assert night_and_branded and all(condition_group(s) == "night" for s in night_and_branded)  # night first


def _fake_pool(captures: int = 12, frames: int = 3) -> list[dict]:
    """A pool of dicts as site_scenes gives them: every 4th capture at night, every 3rd day capture branded,
    frame f of capture c holding c % 5 + f instances."""
    return [
        {
            "capture": c,
            "night": c % 4 == 0,
            "branded": c % 4 != 0 and c % 3 == 0,
            "annotations": [{}] * (c % 5 + f),
        }
        for c in range(captures)
        for f in range(frames)
    ]


def test_headroom_random_sets_are_the_random_strategys_own_first_picks():
    seed, pool_size = 21, 40
    rng = np.random.default_rng(seed + 1)  # run_strategy's draws: batches from what is not yet labelled
    expected: list[int] = []
    for _ in range(3):
        expected += rng.choice(
            [i for i in range(pool_size) if i not in set(expected)], size=5, replace=False
        ).tolist()
    assert headroom.random_picks(pool_size, 15, 5, seed) == expected
    assert headroom.random_picks(pool_size, 10, 5, seed) == expected[:10]
    assert len(set(expected)) == 15


def test_headroom_rules_pick_what_their_names_say():
    pool = _fake_pool()
    uncertainty = np.linspace(0.0, 1.0, len(pool))  # the last frame of the last capture is the most uncertain
    rules = headroom.rule_picks(pool, 8, seed=3, uncertainty=uncertainty)
    assert all(len(p) == len(set(p)) for p in rules.values())
    captures_of = {r: [pool[i]["capture"] for i in p] for r, p in rules.items()}
    for rule in ("captures", "stratified", "most_instances", "most_uncertain", "day_only"):
        assert len(rules[rule]) == 8 and len(set(captures_of[rule])) == 8, rule  # one frame per capture
    assert not any(pool[i]["night"] for i in rules["day_only"])
    assert all(pool[i]["night"] for i in rules["night_only"]) and len(rules["night_only"]) == 8
    assert (
        len(set(captures_of["night_only"])) == 3
    )  # only 3 night captures: their second and third frames follow
    assert sum(pool[i]["night"] for i in rules["night_half"]) == 4
    # the pool is 3 / 12 night and 3 / 12 branded day: 2 and 2 of 8
    assert sum(pool[i]["night"] for i in rules["stratified"]) == 2
    assert sum(pool[i]["branded"] for i in rules["stratified"]) == 2
    assert sum(pool[i]["branded"] for i in rules["branded_half"]) == 4
    assert not any(pool[i]["night"] for i in rules["branded_half"])
    assert all(
        pool[i]["annotations"]
        == max((s["annotations"] for s in pool if s["capture"] == pool[i]["capture"]), key=len)
        for i in rules["most_instances"]
    )
    assert rules["most_uncertain"] == [3 * c + 2 for c in range(11, 3, -1)]
    assert "most_uncertain" not in headroom.rule_picks(pool, 8, seed=3)


def test_headroom_cli_names_a_label_count_the_pool_cannot_give():
    out = subprocess.run(
        [sys.executable, "-m", "ml.experiments.active.headroom", "--labels", "300", "--pool", "200"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "--labels must be between 1 and --pool (200), got 300" in out.stderr


def test_a_real_pool_comes_in_captures_of_consecutive_frames_of_one_video_drawn_whole():
    frames = [
        {"id": k, "series": f"boxes: video IMG_{v}_mp4"} for k, v in enumerate(["0261"] * 5 + ["0265"] * 3)
    ]
    runs = captures(frames, 2)
    assert [[f["id"] for f in run] for run in runs] == [
        [0, 1],
        [2, 3],
        [4],
        [5, 6],
        [7],
    ]  # no run spans two videos
    for seed in range(8):
        pool = draw_pool(runs, 4, seed)
        drawn = sorted({f["capture"] for f in pool})
        assert len(pool) == 4 and [f["id"] for f in pool] == sorted(f["id"] for f in pool)  # in pool order
        for capture in drawn[:-1]:  # whole captures (the last one drawn may be cut short)
            assert [f["id"] for f in pool if f["capture"] == capture] == [f["id"] for f in runs[capture]]
    pool = draw_pool(runs, 4, seed=1)
    assert {tuple(f["id"] for f in draw_pool(runs, 4, seed)) for seed in range(8)} != {
        tuple(f["id"] for f in pool)
    }
    assert len(draw_pool(runs, 100, seed=0)) == 8  # asked for more than there is: all of it


def test_the_real_pool_needs_a_base_that_never_saw_the_site():
    out = subprocess.run(
        [sys.executable, "-m", "ml.experiments.active.simulate", "--real", "/nowhere"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "--real needs --base" in out.stderr


@pytest.mark.slow
def test_a_tiny_real_pool_run_labels_site_w_frames_and_reports_box_ap50_savings(tmp_path):
    data = real_like_set(tmp_path / "data")
    base = tiny_checkpoint(tmp_path / "base.pt", input_size=96)
    report = simulate_real(REAL_TINY, data, base, tmp_path / "al.png", tmp_path / "work", log=lambda _: None)
    assert report["metric"] == "box_ap50" and report["splits"] == {
        "pool_frames": 10,  # IMG_0261 and IMG_0265
        "pool_videos": ["IMG_0261", "IMG_0265"],
        "pool_captures": 5,  # runs of 2 frames: 3 + 2
        "val_video": "IMG_0266",
        "val_frames": 3,
    }
    for strategy in ("random", "uncertainty+diversity"):
        curve = report["curves"][strategy]
        assert [p["labels"] for p in curve] == [0, 2, 4] and curve[0]["box_ap50"] == report["base_box_ap50"]
        assert all(0.0 <= p["box_ap50"] <= 1.0 for p in curve)
        assert len(report["curves_per_repeat"][strategy]) == 2
        assert 1 <= report["captures_labelled"][strategy] <= 4  # 4 labels from a pool of 4 captures
    assert report["random_final"] == report["curves"]["random"][-1]
    assert 0.0 <= report["label_savings"] <= 1.0 and len(report["label_savings_per_repeat"]) == 2
    spread = report["label_savings_spread"]
    assert spread["p05"] <= spread["median"] <= spread["p95"] and 0.0 <= spread["share_at_target"] <= 1.0
    assert set(report["paired_gain"]) == {"mean", "standard_error"}
    assert Path(report["plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    labels = json.loads((tmp_path / "work" / "pool0" / "random_r2.json").read_text())
    assert len(labels["images"]) == 4 and labels["annotations"]  # the oracle's labels: the frames' real boxes
    assert {a["image_id"] for a in labels["annotations"]} <= {img["id"] for img in labels["images"]}

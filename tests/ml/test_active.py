"""Active-learning ranking, the label-savings measure, and the simulation CLI end to end (tiny)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.active import ranking
from ml.active.ranking import diverse_order, near_duplicate_groups, typical_order
from ml.experiments.active import headroom
from ml.experiments.active.config import SimConfig
from ml.experiments.active.curves import label_savings, label_savings_spread, paired_gain
from ml.experiments.active.rounds import fine_tune_steps
from ml.experiments.active.site import CONDITION_GROUPS, condition_group, site_scenes, write_coco
from ml.synth import CATEGORIES
from ml.universal.checkpoint import make_meta, save_checkpoint
from ml.universal.model import build_model

ROOT = Path(__file__).resolve().parents[2]


def test_diverse_order_does_not_fill_a_batch_with_near_duplicates():
    rng = np.random.default_rng(0)
    pile = np.ones((6, 8)) + rng.normal(0, 0.01, (6, 8))  # six shots of the same pile, very uncertain
    others = rng.normal(0, 1, (10, 8))  # distinct scenes, less uncertain
    features = np.vstack([pile, others])
    uncertainty = np.concatenate([np.full(6, 0.9), np.linspace(0.5, 0.7, 10)])
    by_uncertainty = list(np.argsort(-uncertainty, kind="stable")[:5])
    diverse = diverse_order(uncertainty, features, alpha=0.5, limit=5, cold_start=0)
    assert sum(i < 6 for i in by_uncertainty) == 5
    assert sum(i < 6 for i in diverse) == 1
    assert diverse[0] in range(6)  # still starts with the most uncertain image
    cold = diverse_order(
        uncertainty, features, alpha=0.5, limit=5
    )  # typical picks first: one of the pile too
    assert sum(i < 6 for i in cold) == 1 and len(set(cold)) == 5
    assert len(set(diverse_order(uncertainty, features))) == 16  # a full order is a permutation


def test_diverse_order_with_alpha_one_is_uncertainty_order():
    rng = np.random.default_rng(1)
    uncertainty = rng.uniform(0, 1, 12)
    order = diverse_order(uncertainty, rng.normal(0, 1, (12, 4)), alpha=1.0, cold_start=0)
    assert order == list(np.argsort(-uncertainty, kind="stable"))


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


def test_simulate_cli_prints_json_and_writes_the_plot(tmp_path):
    torch.manual_seed(0)
    base = save_checkpoint(
        tmp_path / "base.pt", build_model("unet_xs", len(CATEGORIES)), make_meta("unet_xs", CATEGORIES, 64)
    )
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


def test_diverse_order_keeps_away_from_what_is_already_labelled():
    rng = np.random.default_rng(2)
    seen = np.array([1.0, 0, 0, 0]) + rng.normal(0, 0.02, (8, 4))  # a kind of scene labelled already
    unseen = np.array([0, 1.0, 0, 0]) + rng.normal(0, 0.02, (8, 4))  # a kind nobody labelled yet
    features = np.vstack([seen, unseen])
    uncertainty = np.concatenate(
        [np.linspace(0.7, 0.8, 8), np.linspace(0.5, 0.7, 8)]
    )  # seen kind looks harder
    labelled = np.array([1.0, 0, 0, 0]) + rng.normal(0, 0.02, (5, 4))
    assert diverse_order(uncertainty, features, alpha=0.5, limit=1, cold_start=0)[0] < 8
    assert diverse_order(uncertainty, features, alpha=0.5, limit=1, labelled=labelled, cold_start=0)[0] >= 8
    assert (
        diverse_order(uncertainty, features, alpha=0.5, limit=1, labelled=labelled)[0] >= 8
    )  # cold start too


def _on_circle(angle: float, i: int, j: int, dim: int = 6) -> np.ndarray:
    row = np.zeros(dim)
    row[i], row[j] = np.cos(angle), np.sin(angle)
    return row


def test_frames_of_one_capture_chain_into_one_group_and_the_queue_takes_other_captures_first():
    # capture A: four frames, 0.14-0.16 from the next, so its two ends are 0.45 apart; captures B and
    # C: two frames each, 0.32-0.38 from every frame of A: nearer than A's ends are to each other
    capture_a = [_on_circle(angle, 0, 1) for angle in (0.0, 0.14, 0.29, 0.45)]
    middle = _on_circle(0.225, 0, 1)
    axes = np.eye(6)
    capture_b = [middle + 0.32 * axes[2], middle + 0.32 * (axes[2] + 0.15 * axes[4])]
    capture_c = [middle + 0.32 * axes[3], middle + 0.32 * (axes[3] + 0.15 * axes[5])]
    features = np.array(capture_a + capture_b + capture_c)
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    assert np.linalg.norm(unit[0] - unit[3]) > np.linalg.norm(
        unit[0] - unit[4]
    )  # no threshold separates them

    groups = near_duplicate_groups(features)
    assert len(set(groups[:4])) == 1 and len(set(groups[4:6])) == 1 and len(set(groups[6:])) == 1
    assert len(set(groups)) == 3
    uncertainty = np.array([0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    distance_only = diverse_order(uncertainty, features, limit=3, cold_start=0, near_duplicates=False)
    assert distance_only[:2] == [0, 3]  # the far end of the same capture
    order = diverse_order(uncertainty, features, limit=3, cold_start=0)
    assert order[0] == 0 and {int(groups[i]) for i in order} == set(groups.tolist())  # one frame per capture
    # a labelled frame covers its capture: the queue takes B and C first, though A's frame 0 is the
    # most uncertain and A's far end is as far from the labelled frame as B and C are
    later = diverse_order(uncertainty, features, labelled=capture_a[1:2], cold_start=0)
    assert {int(groups[i]) for i in later[:2]} == {int(groups[4]), int(groups[6])}
    assert (
        0
        in diverse_order(uncertainty, features, labelled=capture_a[1:2], cold_start=0, near_duplicates=False)[
            :2
        ]
    )
    assert sorted(later) == list(range(8))


def test_a_density_weight_prefers_an_image_that_stands_for_others_to_a_far_outlier():
    rng = np.random.default_rng(5)
    axes = np.eye(4)
    features = np.vstack(
        [axes[0] + rng.normal(0, 0.05, (10, 4)), axes[1] + rng.normal(0, 0.05, (10, 4)), -axes[:1]]
    )  # two kinds of scene, and one outlier opposite the first (row 20)
    uncertainty = np.concatenate([[0.9], np.full(20, 0.5)])
    plain = diverse_order(uncertainty, features, alpha=0.0, limit=2, cold_start=0, near_duplicates=False)
    weighted = diverse_order(
        uncertainty, features, alpha=0.0, limit=2, cold_start=0, near_duplicates=False, density=1.0
    )
    assert plain == [0, 20]  # k-center greedy: the farthest image is the outlier
    assert weighted[0] == 0 and 10 <= weighted[1] < 20  # typicality: the other kind of scene


def test_a_content_weight_prefers_the_frame_with_more_to_label():
    axes = np.eye(4)
    features = np.vstack([axes[0], axes[1], axes[2]])  # three distinct scenes, equally far apart
    uncertainty = np.array([0.9, 0.5, 0.5])
    content = np.array([5.0, 1.0, 9.0])  # predicted instances: scene 2 is the crowded one
    assert (
        diverse_order(uncertainty, features, cold_start=0, content=content, content_power=0.0)[1] == 1
    )  # off
    assert diverse_order(uncertainty, features, cold_start=0)[1] == 1  # no counts: no weight
    assert (
        diverse_order(uncertainty, features, cold_start=0, content=content)[1] == 2
    )  # DEFAULT_CONTENT_POWER
    assert diverse_order(uncertainty, features, cold_start=0, content=content, content_power=1.0)[1] == 2


def test_near_duplicate_groups_searched_in_blocks_match_the_direct_search(monkeypatch):
    rows = np.random.default_rng(4).normal(0, 1, (57, 5))
    whole = near_duplicate_groups(rows)
    monkeypatch.setattr(ranking, "NEIGHBOUR_CHUNK", 8)
    blocks = near_duplicate_groups(rows)
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    distances = np.linalg.norm(unit[:, None] - unit[None], axis=2) + np.diag(np.full(57, np.inf))
    nearest = np.argmin(distances, axis=1)
    for groups in (whole, blocks):
        assert all(groups[i] == groups[j] for i, j in enumerate(nearest))  # every row with its nearest
    # the same partition (ids may differ): rows share a group in one exactly when they do in the other
    assert np.array_equal(whole[:, None] == whole[None], blocks[:, None] == blocks[None])
    assert len(near_duplicate_groups(rows[:1])) == 1 and len(near_duplicate_groups(rows[:0])) == 0


def test_a_cold_start_picks_the_typical_image_of_each_cluster_largest_first_not_the_outlier():
    rng = np.random.default_rng(3)
    axes = np.eye(4)
    sizes = (7, 4, 2)
    clusters = [axes[k] + rng.normal(0, 0.05, (n, 4)) for k, n in enumerate(sizes)]
    outlier = np.array([[0, 0, 0.2, 1.0]])
    features = np.vstack([*clusters, outlier])
    uncertainty = np.concatenate([np.full(13, 0.2), [0.95]])  # the outlier looks hardest
    starts = np.cumsum((0, *sizes))
    centre_pick = [
        s + int(np.argmin(np.linalg.norm(c - c.mean(0), axis=1)))
        for s, c in zip(starts[:-1], clusters, strict=True)
    ]

    picks = typical_order(features, 3)
    assert [int(np.searchsorted(starts, i, side="right")) - 1 for i in picks] == [0, 1, 2]  # largest first
    assert picks[0] == centre_pick[0]  # the densest neighbourhood is the middle of the cluster
    assert 13 not in diverse_order(uncertainty, features, limit=3)  # uncertainty order would take it first
    assert diverse_order(uncertainty, features, limit=3, cold_start=0)[0] == 13
    # a cluster with a labelled image is covered: its images come after the uncovered clusters
    covered = typical_order(features, 2, labelled=axes[:1] + 0.01)
    assert all(i >= sizes[0] for i in covered)
    assert typical_order(features, 2, seed=0) == typical_order(features, 2, seed=0)
    assert sorted(typical_order(features, 14)) == list(range(14))  # more picks than clusters: each image once


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


def test_the_distance_to_what_is_labelled_matches_the_direct_computation_for_a_large_labelled_set():
    from ml.active.ranking import _min_unit_distances, _unit_rows

    rng = np.random.default_rng(4)
    rows, centres = _unit_rows(rng.normal(0, 1, (50, 16))), _unit_rows(rng.normal(0, 1, (300, 16)))
    direct = np.min(np.linalg.norm(rows[:, None, :] - centres[None, :, :], axis=2), axis=1)
    np.testing.assert_allclose(_min_unit_distances(rows, centres), direct, atol=1e-6)
    np.testing.assert_allclose(_min_unit_distances(centres[:5], centres), 0.0, atol=1e-6)


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

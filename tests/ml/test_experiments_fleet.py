"""The fleet proof (ml.experiments.fleet): how many labels a team needs to reach an AP, what a generation forgot,
the real teams' splits, and tiny runs of the synthetic and the real-teams modes end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from ml.experiments.fleet.config import REAL_TINY
from ml.experiments.fleet.measures import forgetting, label_reduction_interval
from ml.experiments.fleet.real import simulate_real, write_real_teams
from ml.experiments.fleet.simulate import format_table, labels_to_reach, yes_no
from ml.universal.checkpoint import load_checkpoint
from tests.annotator.learning.scenes import tiny_checkpoint
from tests.ml.real_like import real_like_set

ROOT = Path(__file__).resolve().parents[2]


def test_labels_to_reach_interpolates_and_says_never():
    curve = [{"labels": 8, "mask_ap": 0.1}, {"labels": 16, "mask_ap": 0.3}, {"labels": 32, "mask_ap": 0.4}]
    assert labels_to_reach(curve, 0.05) == 8.0
    assert labels_to_reach(curve, 0.2) == 12.0
    assert labels_to_reach(curve, 0.5) is None
    boxes = [{"labels": 10, "box_ap50": 0.2}, {"labels": 20, "box_ap50": 0.6}]
    assert labels_to_reach(boxes, 0.3, key="box_ap50") == 12.5


def _images(found: int, total: int = 10) -> list:
    """``total`` val images of one labelled box each; the first ``found`` are found (score 0.9), the rest get
    one false box (score 0.8)."""
    return [(np.array([0.9 if k < found else 0.8]), np.array([k < found]), 1) for k in range(total)]


def test_the_label_saving_is_bootstrapped_with_every_point_on_the_same_draw():
    # v3 reaches v1's all-label AP with 2 labels, v1 needs 4: a saving of 0.5, the same images found
    better = {
        "v1": [(0, _images(2)), (2, _images(5)), (4, _images(8))],
        "v3": [(0, _images(5)), (2, _images(8)), (4, _images(8))],
    }
    out = label_reduction_interval(better, draws=200, seed=1)
    assert out["reduction"] == 0.5 and out["images"] == 10 and out["never"] == 0
    # paired: v3's curve is v1's two labels on, in every draw, so no draw shows v3 needing more
    assert 0.0 <= out["low"] <= 0.5 <= out["high"] <= 1.0 and out["share_at_least"]["0"] == 1.0
    assert out["share_at_least"]["0.3"] > 0.5
    first = out["points"]["v1"][0]
    assert first["labels"] == 0 and first["low"] <= first["box_ap50"] <= first["high"]
    assert out["points"]["v3"][1]["box_ap50"] == out["points"]["v1"][2]["box_ap50"]
    # v3 worse at every count: it never reaches the target, in the point figure and in every draw
    worse = {"v1": better["v1"], "v3": [(0, _images(1)), (2, _images(2)), (4, _images(3))]}
    never = label_reduction_interval(worse, draws=50, seed=1)
    assert never["reduction"] is None and never["low"] is None and never["never"] == 50
    assert never["share_at_least"] == {"0": 0.0, "0.3": 0.0}
    with pytest.raises(ValueError, match="same val images"):
        label_reduction_interval({"v1": better["v1"], "v3": [(0, _images(2, total=9))]}, draws=5)


def test_forgetting_checks_only_what_the_previous_base_already_had():
    matrix = {
        "v1": {"synthetic": 0.5, "a": 0.1, "b": 0.1},
        "v2": {"synthetic": 0.47, "a": 0.3, "b": 0.1},  # a's data arrive in v2: its rise is not checked
        "v3": {"synthetic": 0.49, "a": 0.25, "b": 0.4},
    }
    rows = forgetting(matrix, ["synthetic"], ["a", "b"], tolerance=0.02)
    assert [(r["to"], r["set"], r["delta"], r["ok"]) for r in rows] == [
        ("v2", "synthetic", -0.03, False),
        ("v3", "synthetic", 0.02, True),
        ("v3", "a", -0.05, False),
    ]


def test_the_real_teams_are_s_r_and_w_with_val_splits_apart_from_their_labels(tmp_path):
    data = real_like_set(tmp_path / "data")
    teams = write_real_teams(data, tmp_path / "teams", replace(REAL_TINY, team_labels=0, team_val=0))
    assert [(t.name, t.site) for t in teams] == [("team1", "S"), ("team2", "R"), ("team3", "W")]

    def names(coco: Path) -> set[str]:
        return {img["file_name"] for img in json.loads(coco.read_text())["images"]}

    s, r, w = teams
    assert (len(names(s.labels)), len(names(s.val))) == (1, 2)  # shipped train / the rest of the 3 S captures
    assert (len(names(r.labels)), len(names(r.val))) == (1, 1)  # the rig's first photo of every 3 is val
    assert (len(names(w.labels)), len(names(w.val))) == (10, 5)  # pool videos / held-out test videos
    for team in teams:
        assert not names(team.labels) & names(team.val)
    capped = write_real_teams(data, tmp_path / "capped", replace(REAL_TINY, team_labels=4, team_val=3))
    assert (len(names(capped[2].labels)), len(names(capped[2].val))) == (4, 3)


@pytest.mark.slow
def test_a_tiny_synthetic_run_still_reports_every_base_on_every_set(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "ml.experiments.fleet.simulate", "--json", "--plot", ""]
        + "--scene-size 64 --synthetic-train 8 --synthetic-val 4 --team-labels 4 --team-val 2 --v1-steps 2 "
        "--base-steps 2 --fine-tune-steps 2 --synthetic-replay 4 --batch-size 2".split(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(out.stdout)
    assert list(report["bases"]) == ["v1", "v2", "v3", "v4"]
    assert set(report["bases"]["v1"]) == {"synthetic", "team1", "team2", "team3"}
    assert [p["labels"] for p in report["label_efficiency"]["curves"]["v3"]] == [1, 2, 4]
    assert len(report["forgetting"]) == 6 and "mask AP of each base" in out.stderr


def test_the_real_only_settings_need_real():
    out = subprocess.run(
        [sys.executable, "-m", "ml.experiments.fleet.simulate", "--input-size", "64"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "input_size need --real" in out.stderr


def test_ayes_no_setting_reads_yes_and_no_and_refuses_anything_else():
    run = [sys.executable, "-m", "ml.experiments.fleet.simulate", "--real", "x", "--base-freeze-batchnorm"]
    out = subprocess.run([*run, "maybe"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "expected yes or no" in out.stderr and "'maybe'" in out.stderr
    assert yes_no("0") is False and yes_no("False") is False and yes_no("1") is True and yes_no("yes")


@pytest.mark.slow
def test_a_tiny_real_teams_run_scores_every_base_on_boxes_and_resumes_from_its_checkpoints(tmp_path):
    data = real_like_set(tmp_path / "data")
    init = tiny_checkpoint(tmp_path / "init.pt", input_size=96)
    work = tmp_path / "work"
    report = simulate_real(REAL_TINY, data, init, tmp_path / "fleet.png", work, log=lambda _: None)
    assert report["teams_data"] == {
        "team1": {"labels": 1, "val": 2},
        "team2": {"labels": 1, "val": 1},
        "team3": {"labels": 4, "val": 3},
    }
    matrix = report["bases"]
    assert list(matrix) == ["v1", "v2", "v3", "v4"]
    assert report["metrics"] == {
        "synthetic": "mask_ap",
        "team1": "box_ap50",
        "team2": "box_ap50",
        "team3": "box_ap50",
    }
    assert all(0.0 <= ap <= 1.0 for row in matrix.values() for ap in row.values())
    for k, team in enumerate(
        report["teams"]
    ):  # a team's zero-shot AP is its column of the base it started from
        assert team["base"] == f"v{k + 1}" and team["base_ap"] == matrix[f"v{k + 1}"][team["team"]]
        assert 0.0 <= team["fine_tuned_ap"] <= 1.0
    assert report["ap_change"]["v2->v3"]["team1"] == round(matrix["v3"]["team1"] - matrix["v2"]["team1"], 4)
    assert [(r["to"], r["set"]) for r in report["forgetting"]] == [
        ("v2", "synthetic"),
        ("v3", "synthetic"),
        ("v3", "team1"),
        ("v4", "synthetic"),
        ("v4", "team1"),
        ("v4", "team2"),
    ]
    for version in ("v2", "v3", "v4"):  # each new base: the retrained one averaged with the previous base
        chosen = report["blends"][version]
        assert chosen["alpha"] in (0.5, 1.0) and set(chosen["means"]) == {"0.5", "1"}
        assert chosen["means"][f"{chosen['alpha']:g}"] == max(chosen["means"].values())
        assert load_checkpoint(work / f"base_{version}.pt")[1]["blend"]["alpha"] == chosen["alpha"]
    assert set(report["blends"]["v3"]["scores"]["1"]) == {"synthetic", "team1", "team2"}  # the gate's sets
    assert "x retrained" in format_table(report)
    eff = report["label_efficiency"]
    # from 0 labels (the base itself), then half of team 3's labels and all of them
    assert eff["key"] == "box_ap50" and [p["labels"] for p in eff["curves"]["v1"]] == [0, 2, 4]
    assert eff["curves"]["v1"][0]["box_ap50"] == matrix["v1"]["team3"]
    assert eff["target"] == eff["curves"]["v1"][-1]["box_ap50"]
    assert eff["curves"]["v3"][-1]["box_ap50"] == report["teams"][2]["fine_tuned_ap"]  # one fine-tune, reused
    assert (
        eff["labels_to_target"]["v1"] is not None and eff["labels_to_target"]["v1"] <= 4
    )  # v1 reaches its own
    assert "box AP50 from base v1 vs v3" in format_table(report)
    paired = eff["paired_bootstrap"]  # the same predictions as the point figures, pooled per image
    assert paired["draws"] == REAL_TINY.draws and paired["images"] == report["teams_data"]["team3"]["val"]
    for version in ("v1", "v3"):
        assert [p["labels"] for p in paired["points"][version]] == [0, 2, 4]
        for point, pooled in zip(eff["curves"][version], paired["points"][version], strict=True):
            assert pooled["box_ap50"] == pytest.approx(point["box_ap50"], abs=2e-3)
            assert pooled["low"] <= pooled["box_ap50"] + 1e-9 and pooled["box_ap50"] <= pooled["high"] + 1e-9
    assert "paired bootstrap" in format_table(report)
    # every box score keeps its image matches from the same prediction, beyond the curves the bootstrap reads
    assert (work / "matches" / "base_v2__team1_val.json").is_file()
    assert cv2.imread(report["plot"]).shape == (420, 1000, 3)
    stamps = {p: p.stat().st_mtime_ns for p in work.glob("*.pt")}
    scores = json.loads((work / "scores.json").read_text())
    assert scores["base_v2.pt on teams/team1_val.json"] == matrix["v2"]["team1"]
    assert scores["base_v2.pt on synthetic_val/all/annotations.json"] == matrix["v2"]["synthetic"]
    again = simulate_real(REAL_TINY, data, init, None, work, log=lambda _: None)
    assert {p: p.stat().st_mtime_ns for p in work.glob("*.pt")} == stamps  # nothing trained again
    assert again["bases"] == matrix and again["label_efficiency"] == eff
    shorter = simulate_real(replace(REAL_TINY, generations=2), data, init, None, work, log=lambda _: None)
    assert list(shorter["bases"]) == ["v1", "v2", "v3"] and shorter["label_efficiency"] == eff  # no v4
    with pytest.raises(ValueError, match="generations is 2"):
        simulate_real(replace(REAL_TINY, generations=1), data, init, None, work, log=lambda _: None)

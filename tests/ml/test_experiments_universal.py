"""The universal model's studies (ml.experiments.universal). The held-out-domain experiment: runs trained in
one invocation (e.g. on a GPU) are tuned and evaluated by a later one, and each arm reports the learning rate
that did best on validation. The grouping ceiling on perfect maps."""

from __future__ import annotations

import json

import pytest

from ml.experiments.universal import heldout
from ml.experiments.universal.ceiling import ceiling
from ml.universal.checkpoint import load_checkpoint
from ml.universal.train import train


@pytest.mark.slow  # trains or evaluates for more than a few seconds: not in make test-fast
def test_runs_trained_only_are_tuned_evaluated_and_selected_by_a_later_invocation(tmp_path):
    work = tmp_path / "work"
    data = {"synthetic": {"count": 4, "seed": 1, "scene_size": 64, "fresh": False, "domains": ["floor_pile"]}}
    base = train(
        {"input_size": 64, "data": data, "steps": 2, "batch_size": 4, "out": str(tmp_path / "base.pt")}
    )
    common = [
        "--base",
        base["checkpoint"],
        "--workdir",
        str(work),
        "--finetune",
        "4",
        "--scratch",
        "4",
        "8",
        "--finetune-steps",
        "2",
        "--scratch-steps",
        "2",
        "3",
        "--finetune-lrs",
        "3e-4",
        "1e-3",
        "--input-size",
        "64",
        "--val",
        "2",
        "--test",
        "2",
        "--workers",
        "2",
        "--out",
        str(tmp_path / "results.json"),
        "--plot",
        str(tmp_path / "plot.png"),
    ]

    trained = heldout.main([*common, "--train-only"])["rows"]
    assert [(r["run"], r["labels"], r["requested_steps"]) for r in trained] == [
        ("base+N", 4, 2),
        ("base+N", 4, 2),
        ("scratch+N", 4, 2),
        ("scratch+N", 8, 3),
    ]
    assert not any(r["tuned"] for r in trained) and all(r["device"] == "cpu" for r in trained)

    report = heldout.main(common)
    rows = report["rows"]
    assert [r["run"] for r in rows] == ["base", "base+N", "base+N", "scratch+N", "scratch+N"]
    for row, first in zip(rows[1:], trained, strict=True):  # reused, not retrained; now tuned on validation
        assert row["train_seconds"] == first["train_seconds"] and row["wall_seconds"] == first["wall_seconds"]
        assert row["tuned"] and 0.0 <= row["val_mask_ap"] <= 1.0
        assert load_checkpoint(row["checkpoint"])[1]["metrics"]["images"] == 2
    finetunes = rows[1:3]
    best = max(finetunes, key=lambda r: r["val_mask_ap"])
    assert [r["selected"] for r in finetunes].count(True) == 1 and best["selected"]
    assert all(r["selected"] for r in rows if r["run"] != "base+N")
    assert report["base_plus_100_vs_scratch_1000"] == [None, None]
    assert json.loads((tmp_path / "results.json").read_text())["rows"] == rows
    assert (tmp_path / "plot.png").stat().st_size > 0


def test_step_counts_are_one_for_all_or_one_per_label_count():
    parser = heldout.argparse.ArgumentParser()
    assert heldout.per_count(parser, "--x", [5], [10, 50]) == {10: 5, 50: 5}
    assert heldout.per_count(parser, "--x", [5, 7], [10, 50]) == {10: 5, 50: 7}
    with pytest.raises(SystemExit):
        heldout.per_count(parser, "--x", [5, 7, 9], [10, 50])


def test_the_grouping_ceiling_on_perfect_maps_finds_nearly_every_parcel():
    result = ceiling(4, 1234, 256, 0.4)  # the same scenes as the first four of the reported test set
    assert result["images"] == 4 and result["mask_ap50"] > 0.9 and result["mask_ap"] > 0.6

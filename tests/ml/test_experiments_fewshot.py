"""The few-shot harness on a real site (ml.experiments.fewshot): its splits, and a tiny run end to end."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from ml.experiments.fewshot.plot import draw_plot
from ml.experiments.fewshot.run import Experiment, ap50_interval, tiny_config
from ml.experiments.fewshot.sites import (
    evenly_spaced,
    read_captures,
    site_of,
    write_captures_copy,
    write_site_splits,
)
from ml.universal.checkpoint import load_checkpoint
from ml.universal.coco_eval import ImageBoxes, box_figures
from tests.ml.real_like import real_like_set

SHIPPED = Path(__file__).resolve().parents[2] / "ml" / "checkpoints" / "universal_base.pt"


def test_sites_are_told_apart_by_series_and_picks_spread_over_the_pool():
    assert site_of("boxes-ou3c2: video IMG_0261_mp4") == "W"
    assert site_of("boxes-ou3c2: rig day 20211113") == "R"
    assert site_of("boxes-ou3c2: burst gggg") == "S"
    assert site_of("") is None
    assert evenly_spaced(list(range(10)), 3) == [1, 5, 8]
    assert evenly_spaced([1, 2], 5) == [1, 2]


def test_site_splits_hold_whole_videos_out_and_keep_web_images_out(tmp_path):
    data = real_like_set(tmp_path / "data")
    counts = write_site_splits(
        data, tmp_path / "splits", pool_sizes=(3,), val_every=2, test_videos=("IMG_0263", "IMG_0267")
    )
    assert counts["w_test"] == 5 and counts["w_pool"] == 10 and counts["w_val"] == 2
    assert counts["base_train"] == {"S": 3, "R": 2}
    assert counts["pool_videos"] == ["IMG_0261", "IMG_0265"]

    def names(file: str) -> set[str]:
        return {img["file_name"] for img in json.loads((tmp_path / "splits" / file).read_text())["images"]}

    assert not names("w_test.json") & (names("w_all.json") | names("w_val.json") | names("base_train.json"))
    assert names("w_3.json") <= names("w_all.json") and len(names("w_3.json")) == 3
    with pytest.raises(ValueError, match="IMG_9999"):
        write_site_splits(data, tmp_path / "bad", pool_sizes=(3,), test_videos=("IMG_9999",))


def test_a_captures_copy_keeps_every_capture_label_and_only_the_images_asked_for(tmp_path):
    data = real_like_set(tmp_path / "data")
    assert write_captures_copy(data, tmp_path / "copy") == {"W": 19, "R": 2, "S": 3}  # no web image
    assert len(list((tmp_path / "copy" / "images").iterdir())) == 24
    original, copied = read_captures(data), read_captures(tmp_path / "copy")
    assert copied[0] == original[0] and copied[1] == original[1]  # the same captures, series and boxes
    assert write_site_splits(tmp_path / "copy", tmp_path / "splits", pool_sizes=(3,))["w_pool"] == 10
    part = write_captures_copy(data, tmp_path / "w", sites=("W",), skip_videos=("IMG_0266",))
    assert part == {"W": 15} and len(list((tmp_path / "w" / "images").iterdir())) == 15
    assert read_captures(tmp_path / "w")[0] == original[0]  # every label, whatever images travel


def test_the_bootstrap_interval_brackets_the_point_and_narrows_to_it_when_every_image_is_the_same():
    same = [
        ImageBoxes(image_id=k, boxes=[[0, 0, 10, 10]], scores=[0.9], gt_boxes=[[0, 0, 10, 10]])
        for k in range(5)
    ]
    perfect = ap50_interval(same, draws=20, seed=0)
    assert perfect["box_ap50"] == perfect["low"] == perfect["high"] == 1.0
    mixed = same + [ImageBoxes(image_id=9, boxes=[[50, 50, 5, 5]], scores=[0.95], gt_boxes=[[0, 0, 10, 10]])]
    figures = ap50_interval(mixed, draws=50, seed=0)
    assert figures["low"] <= figures["box_ap50"] <= figures["high"] and figures["low"] < 1.0
    blind = [ImageBoxes(image_id=k, boxes=[], scores=[], gt_boxes=[[0, 0, 10, 10]]) for k in range(3)]
    assert ap50_interval(blind, draws=5, seed=0) == {"box_ap50": 0.0, "low": 0.0, "high": 0.0, "images": 3}


@pytest.mark.slow
def test_a_tiny_run_trains_every_arm_picks_learning_rates_on_val_and_resumes_from_its_cache(tmp_path):
    data = real_like_set(tmp_path / "data")
    cfg = tiny_config()
    cfg.fine_tune_lrs = (1e-4, 3e-4)
    out = tmp_path / "run"
    out.mkdir()
    report = Experiment(cfg, data, SHIPPED, out, log=lambda _: None).run()
    kinds = [(row["kind"], row["n"]) for row in report["rows"]]
    assert kinds == [("base", "0"), ("base", "2"), ("base", "4"), ("scratch", "4"), ("scratch", "all")]
    for row in report["rows"][1:]:
        assert row["lr"] == float(max(row["val_by_lr"], key=row["val_by_lr"].get))  # the best on val
        assert row["low"] <= row["box_ap50"] <= row["high"] and row["images"] == 5  # the test videos' frames
    assert report["scratch_all"]["n"] == 10
    _, scratch_meta = load_checkpoint(out / "checkpoints" / "scratch_all_0.001.pt")
    sources = [next(iter(spec)) for spec in scratch_meta["data"]["train"]]
    assert sources == [
        "boxes",
        "synthetic",
    ]  # W's frames beside synthetic scenes, which teach the interior map
    cached = json.loads((out / "runs.json").read_text())
    assert {"base_without_w", "base+2@0.0001", "base+2@0.0003", "scratch+all:test"} <= set(cached)
    lines: list[str] = []
    again = Experiment(cfg, data, SHIPPED, out, log=lines.append).run()
    assert not [line for line in lines if "splits" not in line]  # nothing trained or scored again
    assert again["rows"] == report["rows"]
    plot = draw_plot(report, tmp_path / "fewshot.png")
    assert cv2.imread(str(plot)).shape == (440, 720, 3)
    cfg.scratch_sizes = ()  # the base arms only (--scratch-sizes with none): no yardstick, no verdict
    base_only = Experiment(cfg, data, SHIPPED, out, log=lambda _: None).run()
    assert [row["kind"] for row in base_only["rows"]] == ["base"] * 3 and "scratch_all" not in base_only
    assert cv2.imread(str(draw_plot(base_only, tmp_path / "base_only.png"))).shape == (440, 720, 3)


def test_the_fast_ap50_is_cocoevals_on_random_images():
    rng = np.random.default_rng(5)
    images = []
    for k in range(40):
        gt = [[float(x), float(y), 20.0, 15.0] for x, y in rng.uniform(0, 200, (int(rng.integers(0, 6)), 2))]
        near = [
            [b[0] + rng.normal(0, 4), b[1] + rng.normal(0, 4), b[2], b[3]] for b in gt if rng.random() < 0.7
        ]
        noise = [
            [float(x), float(y), 18.0, 18.0] for x, y in rng.uniform(0, 200, (int(rng.integers(0, 4)), 2))
        ]
        boxes = near + noise
        images.append(
            ImageBoxes(image_id=k + 1, boxes=boxes, scores=rng.random(len(boxes)).tolist(), gt_boxes=gt)
        )
    fast = ap50_interval(images, draws=30, seed=0)
    assert fast["box_ap50"] == pytest.approx(box_figures(images, threshold=0.0)["box_ap50"], abs=1e-4)
    assert 0.0 < fast["low"] <= fast["box_ap50"] <= fast["high"] < 1.0


@pytest.mark.slow
def test_the_diagnosis_fine_tunes_each_variant_with_its_ablation_and_restores_the_loss_after(tmp_path):
    from ml.experiments.fewshot.diagnose import parse_variant, run
    from ml.universal import engine, targets

    data = real_like_set(tmp_path / "data")
    before = (engine.INTERIOR_WEIGHT, engine.PROJECTION_WEIGHT, targets.KNOWN_MARGIN)
    seen: list[tuple[float, float]] = []
    original = engine.compute_loss

    def spy(*args, **kwargs):
        seen.append((engine.INTERIOR_WEIGHT, targets.KNOWN_MARGIN))
        return original(*args, **kwargs)

    engine.compute_loss = spy
    try:
        results = run(
            data,
            SHIPPED,
            tmp_path / "diag",
            ["base", "flat:steps=2,lr=1e-5,interior_weight=0,known_margin=-1"],
            "w_300.json",
            ["w_val.json"],
            draws=10,
        )
    finally:
        engine.compute_loss = original
    assert seen == [(0.0, -1.0)] * 2  # both steps trained under the ablation
    assert (engine.INTERIOR_WEIGHT, engine.PROJECTION_WEIGHT, targets.KNOWN_MARGIN) == before
    assert set(results) == {"base/w_val.json", "flat/w_val.json"}
    for row in results.values():
        assert row["low"] <= row["box_ap50"] <= row["high"] and row["images"] == 1  # every 4th val frame
    assert results["flat/w_val.json"]["options"] == {
        "steps": 2,
        "lr": 1e-5,
        "interior_weight": 0.0,
        "known_margin": -1.0,
    }
    with pytest.raises(ValueError, match="unknown key 'momentum'"):
        parse_variant("odd:momentum=0.9")

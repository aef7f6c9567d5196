"""ml.fleet: the multi-set gate, merging contributed COCO data, base retraining."""

from __future__ import annotations

import json

import pytest
import torch

from ml.fleet.base import retrain_base
from ml.fleet.data import CocoSource, merge_coco, write_synthetic
from ml.fleet.gate import gate_decide
from ml.synth import CATEGORIES
from ml.universal.checkpoint import load_checkpoint, make_meta, save_checkpoint
from ml.universal.model import build_model


def test_gate_promotes_only_a_better_mean_without_a_regression_beyond_tolerance():
    current = {"synthetic": 0.30, "north": 0.50, "south": 0.40}
    better = gate_decide({"synthetic": 0.32, "north": 0.55, "south": 0.39}, current, tolerance=0.02)
    assert better.promote and better.regressions == []  # south lost 0.01, within tolerance
    blocked = gate_decide({"synthetic": 0.40, "north": 0.70, "south": 0.30}, current, tolerance=0.02)
    assert not blocked.promote and blocked.regressions == ["south"]
    assert blocked.mean_candidate > blocked.mean_current and "south" in blocked.reason
    same = gate_decide(dict(current), current, tolerance=0.02)
    assert not same.promote and same.regressions == []
    rows = {r.name: r for r in blocked.rows}
    assert rows["south"].delta == pytest.approx(-0.10) and rows["north"].regressed is False


def test_merge_maps_categories_by_name_and_counts_each_source(tmp_path):
    a = {
        "images": [{"id": 7, "file_name": "images/a.png", "width": 8, "height": 8}],
        "annotations": [
            {
                "id": 1,
                "image_id": 7,
                "category_id": 3,
                "bbox": [0, 0, 2, 2],
                "area": 4,
                "segmentation": [[0, 0, 2, 0, 2, 2]],
                "iscrowd": 0,
            },
            {
                "id": 2,
                "image_id": 7,
                "category_id": 9,
                "bbox": [0, 0, 2, 2],
                "area": 4,
                "segmentation": [[0, 0, 2, 0, 2, 2]],
                "iscrowd": 0,
            },
        ],
        "categories": [{"id": 3, "name": "envelope"}, {"id": 9, "name": "pallet_wrap"}],
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "a.json").write_text(json.dumps(a))
    synthetic = write_synthetic(tmp_path / "syn", count=2, seed=1, size=32)
    summary = merge_coco(
        [CocoSource(tmp_path / "a" / "a.json", "north"), synthetic], tmp_path / "merged.json"
    )
    merged = json.loads((tmp_path / "merged.json").read_text())
    assert summary["sources"]["north"] == {"images": 1, "annotations": 1, "skipped_annotations": 1}
    assert summary["sources"]["synthetic"]["images"] == 2 and summary["images"] == 3
    first = merged["annotations"][0]
    assert first["image_id"] == 1 and first["category_id"] == CATEGORIES.index("envelope") + 1
    assert merged["images"][0]["file_name"] == str((tmp_path / "a" / "images" / "a.png").resolve())
    assert [c["name"] for c in merged["categories"]] == list(CATEGORIES)
    assert len({i["id"] for i in merged["images"]}) == 3


def test_retrain_base_starts_from_the_given_base_and_reports_its_data(tmp_path):
    torch.manual_seed(0)
    meta = make_meta("unet_xs", CATEGORIES, 32, data={"contact_weight": 5.0})  # trained with seams weighted
    base = save_checkpoint(tmp_path / "base.pt", build_model("unet_xs", len(CATEGORIES)), meta)
    train = write_synthetic(tmp_path / "train", count=2, seed=3, size=32)
    val = write_synthetic(tmp_path / "val", count=1, seed=4, size=32)
    result = retrain_base(
        base,
        [train],
        val.coco,
        tmp_path / "next.pt",
        work_dir=tmp_path / "work",
        steps=1,
        batch_size=2,
        threads=1,
    )
    assert result["steps"] == 1 and result["data"]["sources"]["synthetic"]["images"] == 2
    before, _ = load_checkpoint(base)
    after, meta = load_checkpoint(result["checkpoint"])
    assert meta["data"]["init"] == str(base) and meta["input_size"] == 32
    assert meta["data"]["contact_weight"] == 5.0  # the next base keeps the loss its init learned with
    changed = any(
        not torch.equal(p, q)
        for p, q in zip(before.state_dict().values(), after.state_dict().values(), strict=True)
    )
    assert changed

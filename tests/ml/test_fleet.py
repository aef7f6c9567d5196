"""ml.fleet: the multi-set gate, merging contributed COCO data, base retraining."""

from __future__ import annotations

import json

import pytest
import torch

from ml.fleet.base import blend_alphas, blend_with_previous, retrain_base
from ml.fleet.data import BoxSource, CocoSource, merge_coco, write_synthetic
from ml.fleet.gate import gate_decide
from ml.synth import CATEGORIES
from ml.universal.checkpoint import load_checkpoint, make_meta, save_checkpoint
from ml.universal.model import build_model
from ml.universal.train import build_dataset
from tests.ml.real_like import real_like_set


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


def test_a_box_source_trains_as_positives_only_when_asked(tmp_path):
    data = real_like_set(tmp_path / "data")
    categories = list(CATEGORIES)
    seen = {}
    for background in (True, False):
        source = BoxSource(data / "train.json", "team", data / "source_map.csv", background=background)
        assert source.spec()["boxes"]["background"] is background
        dataset = build_dataset(source.spec(), categories, 64, seed=0, augment=False)
        labels = {v for k in range(len(dataset)) for v in dataset[k][1].unique().tolist()}
        seen[background] = labels
    assert 0 in seen[True] and 0 not in seen[False]  # no pixel of another team's photo is taken as background
    assert CATEGORIES.index("cardboard_box") + 1 in seen[False]


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


def test_a_retraining_with_batchnorm_frozen_keeps_the_bases_statistics_and_learns_the_rest(tmp_path):
    torch.manual_seed(0)
    base = save_checkpoint(
        tmp_path / "base.pt", build_model("unet_xs", len(CATEGORIES)), make_meta("unet_xs", CATEGORIES, 32)
    )
    train = write_synthetic(tmp_path / "train", count=2, seed=3, size=32)
    val = write_synthetic(tmp_path / "val", count=1, seed=4, size=32)
    kept = {}
    for frozen in (True, False):
        result = retrain_base(
            base,
            [train],
            val.coco,
            tmp_path / f"next_{frozen}.pt",
            work_dir=tmp_path / f"work_{frozen}",
            steps=2,
            batch_size=2,
            threads=1,
            freeze_batchnorm=frozen,
        )
        before = load_checkpoint(base)[0].state_dict()
        after = load_checkpoint(result["checkpoint"])[0].state_dict()
        stats = [k for k in before if k.endswith(("running_mean", "running_var"))]
        weights = [k for k in before if k.endswith("weight") and before[k].dim() == 4]
        assert stats and weights
        kept[frozen] = all(torch.equal(before[k], after[k]) for k in stats)
        assert any(not torch.equal(before[k], after[k]) for k in weights)  # the convolutions learn either way
    assert kept == {True: True, False: False}


def test_the_next_base_is_the_retrained_one_averaged_with_the_previous_at_the_gates_best_alpha(tmp_path):
    torch.manual_seed(0)
    meta = make_meta("unet_xs", CATEGORIES, 32)
    old = save_checkpoint(tmp_path / "old.pt", build_model("unet_xs", len(CATEGORIES)), meta)
    retrained = save_checkpoint(
        tmp_path / "new.pt", build_model("unet_xs", len(CATEGORIES)), {**meta, "input_size": 48}
    )
    w_old = load_checkpoint(old)[0].state_dict()["semantic.weight"]
    w_new = load_checkpoint(retrained)[0].state_dict()["semantic.weight"]
    target = 0.25 * w_new + 0.75 * w_old  # the scorer prefers the blend nearest this point, on two "sets"
    seen = []

    def score(path):
        seen.append(path)
        w = load_checkpoint(path)[0].state_dict()["semantic.weight"]
        gap = float((w - target).abs().mean())
        return {"synthetic": -gap, "team1": -2 * gap}

    chosen = blend_with_previous(retrained, old, tmp_path / "next.pt", score, work_dir=tmp_path / "b", grid=4)
    assert blend_alphas(4) == [0.25, 0.5, 0.75, 1.0] and len(seen) == 4 and seen[-1] == retrained
    assert chosen["alpha"] == 0.25 and set(chosen["scores"]) == {"0.25", "0.5", "0.75", "1"}
    model, out_meta = load_checkpoint(tmp_path / "next.pt")
    assert out_meta["input_size"] == 48 and out_meta["blend"]["alpha"] == 0.25  # the retrained base's meta
    assert torch.allclose(model.state_dict()["semantic.weight"], target, atol=1e-6)
    assert not list((tmp_path / "b").glob("*.pt")) and retrained.is_file()  # only the chosen blend is kept

    flat = blend_with_previous(  # a tie keeps the most of the new training
        retrained, old, tmp_path / "flat.pt", lambda _: {"synthetic": 0.5}, work_dir=tmp_path / "c", grid=2
    )
    assert flat["alpha"] == 1.0
    assert torch.equal(load_checkpoint(tmp_path / "flat.pt")[0].state_dict()["semantic.weight"], w_new)

    other = save_checkpoint(
        tmp_path / "other.pt", build_model("unet_s", len(CATEGORIES)), make_meta("unet_s", CATEGORIES, 32)
    )
    with pytest.raises(ValueError, match="cannot be averaged"):
        blend_with_previous(other, old, tmp_path / "x.pt", score, work_dir=tmp_path / "d")
    with pytest.raises(ValueError, match="at least one point"):
        blend_alphas(0)

"""The maps on the centre tower's pretrained trunk (``mobile_maps``: model.MobileUniversalNet,
backbone.share_trunk): the tower is kept bit for bit, the maps train alone, the predictor runs one pass."""

from __future__ import annotations

import pytest
import torch

from ml.synth import generate_scene
from ml.synth.scene import CATEGORIES
from ml.universal.backbone import share_trunk
from ml.universal.checkpoint import load_checkpoint, make_meta, save_checkpoint
from ml.universal.model import MobileUniversalNet, build_model, fuse_for_inference, has_center_head
from ml.universal.predictor import UniversalPredictor
from ml.universal.train import train
from ml.universal.widen import widen_checkpoint


@pytest.fixture(scope="module")
def tower_file(tmp_path_factory):
    """A ``unet_s_center_mobile`` checkpoint with random weights and the eighteenth's kind of metadata."""
    torch.manual_seed(3)
    model = build_model("unet_s_center_mobile").eval()
    for module in model.modules():  # statistics other than the identity's, as a trained trunk has
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    meta = make_meta("unet_s_center_mobile", list(CATEGORIES), 64, test_time_flips=["x", "y", "xy"])
    meta["grouping"]["center_threshold"] = 0.2
    return save_checkpoint(tmp_path_factory.mktemp("tower") / "tower.pt", model, meta)


def test_sharing_the_trunk_keeps_the_tower_and_starts_the_maps_from_its_decoder(tmp_path, tower_file):
    tower, _ = load_checkpoint(tower_file)
    shared, meta = load_checkpoint(share_trunk(tower_file, tmp_path / "shared.pt"))
    assert isinstance(shared, MobileUniversalNet) and has_center_head("mobile_maps")
    assert meta["architecture"] == "mobile_maps" and meta["test_time_flips"] == []
    assert meta["grouping"]["center_threshold"] == 0.2  # the rest of the metadata carries over
    x = torch.rand(2, 3, 96, 128)
    with torch.no_grad():
        out = shared(x)
        assert torch.equal(out["centers"], tower.centers(x))  # the same centres, bit for bit
    assert out["semantic"].shape == (2, len(CATEGORIES) + 1, 48, 64) and out["interior"].shape == (
        2,
        1,
        48,
        64,
    )
    assert out["features"].shape == (2, 320)
    assert torch.equal(shared.maps.lateral[2].weight, shared.tower.lateral[2].weight)
    assert not torch.equal(shared.maps.semantic.weight, torch.zeros_like(shared.maps.semantic.weight))
    # The predictor's folded copy computes the same maps, and drops the centres when asked.
    fused = fuse_for_inference(shared)
    with torch.no_grad():
        assert torch.allclose(fused(x)["semantic"], out["semantic"], atol=1e-4)
        assert "centers" not in shared(x, tower=False)


def test_share_trunk_and_widen_refuse_what_they_cannot_convert(tmp_path, tower_file):
    path = save_checkpoint(
        tmp_path / "s.pt", build_model("unet_s"), make_meta("unet_s", list(CATEGORIES), 64)
    )
    with pytest.raises(ValueError, match="'unet_s'; share_trunk needs a unet_s_center_mobile tower"):
        share_trunk(path, tmp_path / "out.pt")
    shared = share_trunk(tower_file, tmp_path / "m.pt")
    with pytest.raises(ValueError, match="widen needs two UNets, not 'mobile_maps' into 'unet_m'"):
        widen_checkpoint(shared, "unet_m", tmp_path / "w.pt")
    assert not (tmp_path / "out.pt").exists() and not (tmp_path / "w.pt").exists()


def test_train_only_maps_moves_the_maps_and_nothing_of_the_tower(tmp_path, tower_file):
    init = share_trunk(tower_file, tmp_path / "init.pt")
    before, _ = load_checkpoint(init)
    config = {
        "init": str(init),
        "train_only": ["maps"],
        "data": [{"synthetic": {"count": 4, "seed": 5, "scene_size": 64}}],
        "steps": 2,
        "batch_size": 2,
        "lr": 1e-3,
        "out": str(tmp_path / "after.pt"),
        "num_workers": 0,
        "tune_grouping": False,
        "precision": "fp32",
        "inference_size": 96,  # the long side the checkpoint's predictor uses, apart from the 64 px crops
    }
    train(config)
    after, meta = load_checkpoint(tmp_path / "after.pt")
    old, new = before.state_dict(), after.state_dict()
    tower_keys = [k for k in old if k.startswith("tower.")]
    assert tower_keys and all(torch.equal(old[k], new[k]) for k in tower_keys)  # BatchNorm statistics too
    assert not torch.equal(old["maps.semantic.weight"], new["maps.semantic.weight"])
    assert meta["architecture"] == "mobile_maps" and meta["test_time_flips"] == []
    assert meta["input_size"] == 96 and meta["maps_init"] == "tower of tower.pt"


def test_the_predictor_runs_the_shared_trunk_once_per_image(tmp_path, tower_file):
    predictor = UniversalPredictor.from_checkpoint(share_trunk(tower_file, tmp_path / "shared.pt"))
    calls = []
    predictor.model.tower.features[0].register_forward_hook(
        lambda module, args, output: calls.append(args[0].shape)
    )
    result = predictor.predict(generate_scene("pallet_stack", 3, (96, 96)).image)
    assert calls == [(1, 3, 64, 64)]
    assert result.features.shape == (320,)
    assert all(0.0 <= inst.score <= 1.0 for inst in result.instances)

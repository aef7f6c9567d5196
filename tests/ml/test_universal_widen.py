"""Widening a trained network (Net2WiderNet): the wide network computes what the narrow one did."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.synth.scene import CATEGORIES
from ml.universal.checkpoint import load_checkpoint, make_meta, save_checkpoint
from ml.universal.model import UniversalUNet, build_model
from ml.universal.predictor import UniversalPredictor
from ml.universal.widen import Channels, main, widen


def _trained_looking(model: UniversalUNet, seed: int) -> UniversalUNet:
    """Random weights with BatchNorm statistics and affine terms far from their defaults, as after training."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(0.5 + torch.rand(n, generator=gen))
                module.bias.copy_(torch.randn(n, generator=gen) * 0.3)
                assert module.running_mean is not None and module.running_var is not None
                module.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
                module.running_var.copy_(0.5 + torch.rand(n, generator=gen))
    return model


def _maps(model: UniversalUNet, x: torch.Tensor) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_the_wide_network_computes_the_narrow_ones_maps(mode):
    torch.manual_seed(0)
    narrow = _trained_looking(build_model("unet_s"), seed=1)
    wide = widen(narrow, build_model("unet_m"), seed=3, noise=0.0)
    narrow.train(mode == "train")
    wide.train(mode == "train")
    x = torch.rand(2, 3, 64, 96)
    a, b = _maps(narrow, x), _maps(wide, x)
    for key in ("semantic", "interior"):
        assert a[key].shape == b[key].shape
        torch.testing.assert_close(b[key], a[key], atol=1e-4, rtol=1e-4)
    # the wide network really is wider: more parameters, every block's new channels filled with copies
    assert sum(p.numel() for p in wide.parameters()) > 2 * sum(p.numel() for p in narrow.parameters())
    assert b["features"].shape[1] == 192 and a["features"].shape[1] == 128


def test_noise_makes_copies_differ_without_changing_the_maps_much():
    narrow = _trained_looking(build_model("unet_s"), seed=2).eval()
    wide = widen(narrow, build_model("unet_m"), seed=0, noise=0.01).eval()
    first = wide.encoder[0][0][0].weight  # 24 filters, the last 8 copies of the first 16
    sources = Channels.widen(16, 24, np.random.default_rng(0)).source
    copies = first[16:]
    assert not torch.equal(copies, first[torch.as_tensor(sources[16:])])
    x = torch.rand(1, 3, 64, 64)
    a, b = _maps(narrow, x), _maps(wide, x)
    assert (a["semantic"] - b["semantic"]).abs().max() < 0.1 * a["semantic"].abs().max()


def test_widening_refuses_to_narrow_or_to_change_depths():
    with pytest.raises(ValueError, match="narrow"):
        widen(build_model("unet_m"), build_model("unet_s"))
    with pytest.raises(ValueError, match="depths"):
        widen(build_model("unet_xs"), build_model("unet_m"))


def test_the_cli_writes_a_wide_checkpoint_that_predicts_like_the_narrow_one(tmp_path, capsys):
    narrow = _trained_looking(build_model("unet_s", len(CATEGORIES)), seed=4).eval()
    meta = make_meta("unet_s", list(CATEGORIES), 64, default_threshold=0.4)
    src = save_checkpoint(tmp_path / "narrow.pt", narrow, meta)
    main([str(src), "--architecture", "unet_m", "--out", str(tmp_path / "wide.pt"), "--noise", "0"])
    assert capsys.readouterr().out.strip() == str(tmp_path / "wide.pt")
    wide, wide_meta = load_checkpoint(tmp_path / "wide.pt")
    assert wide_meta["architecture"] == "unet_m" and wide_meta["default_threshold"] == 0.4
    assert wide_meta["data"]["widened_from"] == {
        "checkpoint": str(src),
        "architecture": "unet_s",
        "seed": 0,
        "noise": 0.0,
    }
    rgb = (np.random.default_rng(5).random((48, 80, 3)) * 255).astype(np.uint8)
    a = UniversalPredictor.from_checkpoint(src).predict(rgb).instances
    b = UniversalPredictor.from_checkpoint(tmp_path / "wide.pt").predict(rgb).instances
    assert len(a) == len(b) > 0
    for x, y in zip(a, b, strict=True):
        assert x.category == y.category and abs(x.score - y.score) < 1e-3

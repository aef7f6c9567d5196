"""Widening a trained network without changing what it computes (Net2WiderNet, Chen et al. 2016).

    python -m ml.universal.widen BASE.pt --architecture unet_m --out WIDE.pt

A wider network trained from nothing costs the many CPU hours the narrow base already spent on
synthetic scenes. Widening instead starts the wider one *from* the narrow one: every new channel of a
block copies an existing channel of the same block (its convolution filter and its BatchNorm), and every
block that reads those channels divides the copied input weights by the number of copies, so the sum
it computes is unchanged. The wide network's maps equal the narrow one's (exactly with ``noise=0``; in
evaluation and in training mode, since copies share their batch statistics), and training goes on from
there with room to learn more. ``noise`` (a fraction of each copied filter's spread) makes copies differ,
so they do not receive identical gradients forever.

Both architectures must have the same stages and depths (only widths may grow), as ``unet_s`` and
``unet_m`` do. Pure ``ml``.
"""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ml.universal.checkpoint import load_checkpoint, save_checkpoint
from ml.universal.model import ConvBNReLU, UniversalUNet, UpStage, build_model


@dataclass(frozen=True)
class Channels:
    """How the channels of a wide tensor come from a narrow one: wide channel j copies narrow ``source[j]``,
    which ``copies[source[j]]`` wide channels share."""

    source: np.ndarray
    copies: np.ndarray

    @classmethod
    def identity(cls, width: int) -> Channels:
        return cls(np.arange(width), np.ones(width, dtype=np.int64))

    @classmethod
    def widen(cls, old: int, new: int, rng: np.random.Generator) -> Channels:
        if new < old:
            raise ValueError(f"cannot narrow a block from {old} to {new} channels")
        source = np.concatenate([np.arange(old), rng.integers(0, old, new - old)])
        return cls(source, np.bincount(source, minlength=old))

    @staticmethod
    def concat(parts: list[Channels]) -> Channels:
        """The channels of ``torch.cat(parts, dim=1)``: each part's sources shifted by the narrow widths before it."""
        offset, sources, copies = 0, [], []
        for part in parts:
            sources.append(part.source + offset)
            copies.append(part.copies)
            offset += len(part.copies)
        return Channels(np.concatenate(sources), np.concatenate(copies))


def _input_weights(weight: torch.Tensor, inputs: Channels) -> torch.Tensor:
    """Pick the input channels (dim 1) of a narrow weight and share each among its copies."""
    share = torch.as_tensor(1.0 / inputs.copies[inputs.source], dtype=weight.dtype)
    return weight[:, torch.as_tensor(inputs.source)] * share.view(1, -1, *([1] * (weight.dim() - 2)))


def _widen_block(
    new: ConvBNReLU, old: ConvBNReLU, inputs: Channels, rng: np.random.Generator, noise: float
) -> Channels:
    """Copy ``old`` into the wider ``new`` block, which reads ``inputs``; returns the channels it writes."""
    old_conv, old_bn, new_conv, new_bn = old[0], old[1], new[0], new[1]
    assert isinstance(old_conv, nn.Conv2d) and isinstance(new_conv, nn.Conv2d)
    assert isinstance(old_bn, nn.BatchNorm2d) and isinstance(new_bn, nn.BatchNorm2d)
    outputs = Channels.widen(old_conv.out_channels, new_conv.out_channels, rng)
    rows = torch.as_tensor(outputs.source)
    weight = _input_weights(old_conv.weight.detach(), inputs)[rows].clone()
    extra = weight[old_conv.out_channels :]
    if noise and len(extra):
        spread = extra.flatten(1).std(dim=1).view(-1, 1, 1, 1)
        gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
        extra += noise * spread * torch.randn(extra.shape, generator=gen, dtype=extra.dtype)
    with torch.no_grad():
        new_conv.weight.copy_(weight)
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(new_bn, name).copy_(getattr(old_bn, name).detach()[rows])
        if new_bn.num_batches_tracked is not None and old_bn.num_batches_tracked is not None:
            new_bn.num_batches_tracked.copy_(old_bn.num_batches_tracked)
    return outputs


def _widen_head(new: nn.Conv2d, old: nn.Conv2d, inputs: Channels) -> None:
    with torch.no_grad():
        new.weight.copy_(_input_weights(old.weight.detach(), inputs))
        if old.bias is not None and new.bias is not None:
            new.bias.copy_(old.bias.detach())


def _stages(model: UniversalUNet) -> tuple[list[list[ConvBNReLU]], list[ConvBNReLU]]:
    """The encoder's blocks, stage by stage, and the decoder's fuse blocks."""
    encoder = [
        [block for block in stage.children() if isinstance(block, ConvBNReLU)] for stage in model.encoder
    ]
    decoder = [stage.fuse for stage in model.decoder if isinstance(stage, UpStage)]
    return encoder, decoder


def widen(old: UniversalUNet, new: UniversalUNet, seed: int = 0, noise: float = 0.0) -> UniversalUNet:
    """Load ``old``'s function into the (freshly built, wider) ``new``; returns ``new``."""
    (old_encoder, old_decoder), (new_encoder, new_decoder) = _stages(old), _stages(new)
    if [len(s) for s in old_encoder] != [len(s) for s in new_encoder] or len(old_decoder) != len(new_decoder):
        raise ValueError("widening needs the same stages and depths; only the widths may grow")
    rng = np.random.default_rng(seed)
    x, skips = Channels.identity(3), []
    for old_stage, new_stage in zip(old_encoder, new_encoder, strict=True):
        for old_block, new_block in zip(old_stage, new_stage, strict=True):
            x = _widen_block(new_block, old_block, x, rng, noise)
        skips.append(x)
    for old_fuse, new_fuse, skip in zip(old_decoder, new_decoder, reversed(skips[:-1]), strict=True):
        x = _widen_block(new_fuse, old_fuse, Channels.concat([x, skip]), rng, noise)
    x = _widen_block(new.refine, old.refine, x, rng, noise)
    _widen_head(new.semantic, old.semantic, x)
    _widen_head(new.interior, old.interior, x)
    return new


def widen_checkpoint(src: Path, architecture: str, out: Path, seed: int = 0, noise: float = 0.01) -> Path:
    """Write ``src`` widened into ``architecture``; its metadata (grouping, flips, calibration) carries over."""
    old, meta = load_checkpoint(src)
    wide = build_model(architecture, num_classes=len(meta["categories"]))
    if not isinstance(old, UniversalUNet) or not isinstance(wide, UniversalUNet):
        raise ValueError(f"widen needs two UNets, not {meta['architecture']!r} into {architecture!r}")
    new = widen(old, wide, seed=seed, noise=noise)
    meta = dict(meta)
    meta["data"] = {
        **dict(meta.get("data") or {}),
        "widened_from": {
            "checkpoint": str(src),
            "architecture": meta["architecture"],
            "seed": seed,
            "noise": noise,
        },
    }
    meta["architecture"] = architecture
    meta["date"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return save_checkpoint(out, new, meta)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--architecture", required=True, help="a wider key of ml.universal.model.MODELS")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--noise", type=float, default=0.01, help="copies' filter noise, a fraction of their spread"
    )
    args = parser.parse_args(argv)
    print(widen_checkpoint(args.checkpoint, args.architecture, args.out, seed=args.seed, noise=args.noise))


if __name__ == "__main__":
    main()

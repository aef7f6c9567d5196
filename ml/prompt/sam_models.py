"""SAM model builders, a registry of variants, and a safe checkpoint loader.

The official variants (vit_b / vit_l / vit_h) come from ``segment_anything``'s own builders.
``tiny`` builds a small SAM from the same modules (``ImageEncoderViT``, ``PromptEncoder``,
``MaskDecoder``, ``TwoWayTransformer``): used by the tests, and usable for a self-trained
checkpoint. Checkpoints are either a plain ``state_dict`` (official files) or a dict
``{"model": state_dict, "arch": {...builder kwargs...}, "meta": {...}}`` (our own).
"""

from __future__ import annotations

import hashlib
from functools import partial
from pathlib import Path
from typing import Any

import torch
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer


def build_sam_official(model_type: str) -> Sam:
    """A randomly initialised official-size SAM (vit_b / vit_l / vit_h), in eval mode."""
    from segment_anything import sam_model_registry

    if model_type not in ("vit_b", "vit_l", "vit_h"):
        raise ValueError(f"unknown SAM model type {model_type!r}; use vit_b, vit_l, vit_h or tiny")
    return sam_model_registry[model_type](checkpoint=None).eval()


def build_sam_tiny(
    *,
    img_size: int = 128,
    patch_size: int = 16,
    embed_dim: int = 32,
    depth: int = 2,
    num_heads: int = 2,
    prompt_dim: int = 32,
    decoder_mlp_dim: int = 64,
    decoder_heads: int = 2,
    window_size: int = 0,
) -> Sam:
    """A small SAM from segment-anything's modules; the input long side is ``img_size`` px.

    The image embedding is (``prompt_dim``, img_size/patch_size, img_size/patch_size) and the
    low-resolution mask logits are 4x that grid, exactly as in the official models.
    """
    grid = img_size // patch_size
    sam = Sam(
        image_encoder=ImageEncoderViT(
            img_size=img_size,
            patch_size=patch_size,
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=4,
            out_chans=prompt_dim,
            qkv_bias=True,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            use_rel_pos=True,
            window_size=window_size,
            global_attn_indexes=(),
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=prompt_dim,
            image_embedding_size=(grid, grid),
            input_image_size=(img_size, img_size),
            mask_in_chans=8,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(
                depth=2, embedding_dim=prompt_dim, mlp_dim=decoder_mlp_dim, num_heads=decoder_heads
            ),
            transformer_dim=prompt_dim,
            iou_head_depth=3,
            iou_head_hidden_dim=prompt_dim,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    return sam.eval()


SAM_VARIANTS = ("vit_b", "vit_l", "vit_h", "tiny")


def build_sam(model_type: str, arch: dict[str, Any] | None = None) -> Sam:
    """Registry entry point: ``tiny`` takes its hyper-parameters from ``arch``."""
    if model_type == "tiny":
        return build_sam_tiny(**(arch or {}))
    return build_sam_official(model_type)


def save_checkpoint(
    sam: Sam,
    path: str | Path,
    *,
    model_type: str,
    arch: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
) -> None:
    """Write ``{"model", "model_type", "arch", "meta"}``; loadable with ``weights_only=True``."""
    torch.save(
        {"model": sam.state_dict(), "model_type": model_type, "arch": arch or {}, "meta": meta or {}},
        str(path),
    )


def load_sam(checkpoint: str | Path, model_type: str = "vit_b") -> tuple[Sam, str]:
    """Load a SAM checkpoint safely on the CPU; returns (model in eval mode, resolved model type).

    Official files are plain state dicts and need ``model_type``; our own files carry their
    model type and builder arguments, which win over the argument.
    """
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"SAM checkpoint not found: {path}")
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    arch: dict[str, Any] | None = None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        model_type = str(state.get("model_type", model_type))
        arch = dict(state.get("arch") or {})
        state = state["model"]
    sam = build_sam(model_type, arch)
    sam.load_state_dict(state)
    return sam.eval(), model_type


def file_sha256(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()

"""The whole SAM path with a tiny Sam built from segment-anything's own modules.

checkpoint file -> safe loader -> embed -> float16 bytes -> restore -> segment (points, box,
previous mask) -> polygon; the restored embedding must give the fresh embedding's mask.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.geometry import mask_iou, shape_to_mask
from ml.prompt import Prompts, build_engine, segment_to_polygons
from ml.prompt.sam import SamEngine
from ml.prompt.sam_models import build_sam_tiny, save_checkpoint
from tests.environment import missing_tool

TINY_ARCH = {"img_size": 128, "embed_dim": 32, "depth": 2, "num_heads": 2, "prompt_dim": 32}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("sam") / "prompt_tiny.pt"
    save_checkpoint(
        build_sam_tiny(**TINY_ARCH), path, model_type="tiny", arch=TINY_ARCH, meta={"purpose": "test"}
    )
    return path


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    """A 150x230 (non-square: exercises resize + padding) image with a bright rectangle."""
    rng = np.random.default_rng(1)
    img = rng.normal(60, 5, size=(150, 230, 3))
    img[40:110, 60:170] = (200, 150, 90)
    return np.clip(img, 0, 255).astype(np.uint8)


def _prompt_set(h: int, w: int) -> list[Prompts]:
    previous = np.zeros((h, w), bool)
    previous[45:100, 70:160] = True
    return [
        Prompts(points=[(115.0, 75.0)], labels=[1]),
        Prompts(box=(60.0, 40.0, 170.0, 110.0)),
        Prompts(points=[(115.0, 75.0), (20.0, 20.0)], labels=[1, 0], box=(55.0, 35.0, 175.0, 115.0)),
        Prompts(points=[(115.0, 75.0)], labels=[1], mask=previous),
    ]


def test_sam_checkpoint_roundtrip_restores_embedding(checkpoint: Path, image: np.ndarray) -> None:
    engine = build_engine("sam", checkpoint=checkpoint, model_type="vit_b")  # file says "tiny"
    assert isinstance(engine, SamEngine)
    assert engine.engine_id.startswith("sam-tiny-") and len(engine.engine_id) == len("sam-tiny-") + 12
    h, w = image.shape[:2]
    fresh = engine.embed(image)
    assert fresh.image_size == (h, w)
    assert fresh.meta["input_size"] == [83, 128]  # long side scaled to the encoder's 128 px
    stored = fresh.to_bytes()

    # A new engine process: load the checkpoint again and restore without the encoder.
    other = SamEngine.from_checkpoint(checkpoint)
    assert other.engine_id == engine.engine_id
    restored = other.embedding_from_bytes(stored)
    calls = {"n": 0}
    hook = other.model.image_encoder.register_forward_hook(lambda *a: calls.__setitem__("n", calls["n"] + 1))
    try:
        for prompts in _prompt_set(h, w):
            a = engine.segment(fresh, prompts)
            b = other.segment(restored, prompts)
            assert a.mask.shape == (h, w) and a.mask.dtype == bool
            assert a.engine_id == b.engine_id == engine.engine_id
            assert 0.0 <= b.score <= 1.0
            assert mask_iou(a.mask, b.mask) >= 0.99
            if b.mask.any():
                shape, vertices, iou = segment_to_polygons(b)
                assert vertices >= 3 and iou >= 0.98
                assert mask_iou(shape_to_mask(shape, h, w), b.mask) >= 0.98
    finally:
        hook.remove()
    assert calls["n"] == 0  # restoring never re-ran the image encoder


def test_previous_mask_reaches_the_decoder(checkpoint: Path, image: np.ndarray) -> None:
    engine = SamEngine.from_checkpoint(checkpoint)
    emb = engine.embed(image)
    h, w = image.shape[:2]
    full = np.zeros((h, w), bool)
    full[:, : w // 2] = True
    logits = engine._mask_to_logits(full)
    assert tuple(logits.shape) == (1, 1, 32, 32)  # 4x the 8x8 embedding grid
    assert logits[0, 0, 10, 2] > 0 > logits[0, 0, 10, 30]  # left half in, right half out
    assert logits[0, 0, 31, 2] < 0  # the padding below the 83-px-high input is "out"
    with_mask = engine.segment(emb, Prompts(points=[(10.0, 10.0)], labels=[1], mask=full))
    without = engine.segment(emb, Prompts(points=[(10.0, 10.0)], labels=[1]))
    assert with_mask.mask.shape == without.mask.shape == (h, w)


def test_sam_rejects_bad_weights(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    torch.save({"model": {"nope": torch.zeros(1)}, "model_type": "tiny", "arch": TINY_ARCH}, bad)
    with pytest.raises(RuntimeError):
        SamEngine.from_checkpoint(bad)
    with pytest.raises(FileNotFoundError):
        SamEngine.from_checkpoint(tmp_path / "missing.pt")


def test_switching_embeddings_never_reuses_the_wrong_features(checkpoint: Path, image: np.ndarray) -> None:
    engine = SamEngine.from_checkpoint(checkpoint)
    other_image = np.ascontiguousarray(image[::-1, ::-1])
    prompts = Prompts(points=[(115.0, 75.0)], labels=[1])
    first = engine.embed(image)
    expected_first = engine.segment(first, prompts).mask
    second = engine.embed(other_image)  # the predictor now holds the second image
    expected_second = engine.segment(second, prompts).mask
    for _ in range(2):  # alternate, including bytes round-trips that make new objects
        assert mask_iou(engine.segment(first, prompts).mask, expected_first) >= 0.99
        restored = engine.embedding_from_bytes(second.to_bytes())
        assert mask_iou(engine.segment(restored, prompts).mask, expected_second) >= 0.99


def test_precision_choice() -> None:
    from ml.prompt.sam import resolve_precision

    assert resolve_precision("fp32") == "fp32" and resolve_precision("bf16") == "bf16"
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert resolve_precision("auto") == ("bf16" if native else "fp32")
    with pytest.raises(ValueError, match="unknown SAM precision 'fp8'"):
        resolve_precision("fp8")


def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


# The tiny random Sam's logits sit close to 0 (|logit| ~ 0.04), so a rounding difference flips
# many pixels that a trained model would put far from the threshold: the logits are compared
# tightly, the masks loosely.
def test_bfloat16_decodes_the_float32_masks(checkpoint: Path, image: np.ndarray) -> None:
    exact = SamEngine.from_checkpoint(checkpoint, precision="fp32")
    fast = SamEngine.from_checkpoint(checkpoint, precision="bf16")
    assert exact.decoder.dtype == torch.float32 and fast.decoder.dtype == torch.bfloat16
    embedding = exact.embed(image)  # the same features for both: only the decoder differs
    h, w = image.shape[:2]
    for prompts in _prompt_set(h, w):
        a, b = exact.segment(embedding, prompts), fast.segment(embedding, prompts)
        assert a.mask.any()
        assert mask_iou(a.mask, b.mask) >= 0.95
        assert abs(a.score - b.score) < 0.05
    points = (torch.tensor([[[60.0, 40.0]]]), torch.tensor([[1]]))
    with torch.inference_mode():
        logits32, _ = exact.decoder(exact._features, points, None, None)
        logits16, _ = fast.decoder(fast._features, points, None, None)
    assert logits16.dtype == torch.float32 and _relative_error(logits16, logits32) < 0.03


def test_compiled_decoder_gives_the_plain_decoders_masks(checkpoint: Path, image: np.ndarray) -> None:
    """torch.compile runs in the background after the first click; then it serves every click."""
    if not any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "g++", "c++", "clang++")):
        # without one the engine keeps the plain decoder; the Docker image and .ci/run install g++
        missing_tool("torch.compile needs a C++ compiler")
    engine = SamEngine.from_checkpoint(checkpoint, compile=True)
    embedding = engine.embed(image)
    h, w = image.shape[:2]
    prompts = _prompt_set(h, w)
    plain = [engine.segment(embedding, p) for p in prompts]  # the first call starts the compiler
    decoder = engine.decoder
    assert decoder.compiled.wait(timeout=300)
    assert decoder._run is not decoder.decoder  # compiling succeeded and took over
    for p, before in zip(prompts, plain, strict=True):
        after = engine.segment(embedding, p)  # points, a box, both, a previous mask: no recompile needed
        assert mask_iou(after.mask, before.mask) >= 0.95
    points = (torch.tensor([[[60.0, 40.0], [10.0, 12.0]]]), torch.tensor([[1, 0]]))
    with torch.inference_mode():
        compiled, _ = decoder(engine._features, points, None, None)
        eager, _ = decoder._decode(decoder.decoder, engine._features, points, None, None)
    assert _relative_error(compiled, eager) < 0.03

"""Prompt API: validation, embedding bytes, mask -> polygon, the clicker protocol, build_engine."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ml.geometry import mask_iou, mask_to_shape_simplified, shape_to_mask, shape_vertex_count
from ml.prompt import (
    Embedding,
    EmbeddingMismatchError,
    InvalidPromptError,
    Prompts,
    SegmentResult,
    build_engine,
    segment_to_polygons,
    validate_prompts,
)
from ml.prompt.clicker import ClickTrace, farthest_interior_point, next_click, run_clicker


@pytest.mark.parametrize(
    ("prompts", "field"),
    [
        (Prompts(points=[(5, 5), (6, 6)], labels=[1]), "labels"),
        (Prompts(points=[(5, 5), (120, 6)], labels=[1, 1]), "points[1]"),
        (Prompts(points=[(5, -1)], labels=[1]), "points[0]"),
        (Prompts(points=[(5, float("nan"))], labels=[1]), "points[0]"),
        (Prompts(points=[(5, 5)], labels=[2]), "labels[0]"),
        (Prompts(points=[(5, 5)], labels=[0]), "points"),
        (Prompts(), "prompts"),
        (Prompts(box=(10, 10, 5, 20)), "box"),
        (Prompts(box=(10, 10, 20, 81)), "box"),
        (Prompts(mask=np.ones((10, 10), bool)), "mask"),
        (Prompts(mask=np.zeros((80, 100), bool)), "prompts"),
    ],
)
def test_validate_prompts_names_the_bad_prompt(prompts: Prompts, field: str) -> None:
    with pytest.raises(InvalidPromptError) as err:
        validate_prompts(prompts, width=100, height=80)
    assert err.value.field == field
    assert isinstance(err.value, ValueError)
    assert field in str(err.value)


def test_validate_prompts_accepts_good_prompts() -> None:
    mask = np.zeros((80, 100), bool)
    mask[10:20, 10:20] = True
    validate_prompts(Prompts(points=[(0, 0), (100, 80)], labels=[1, 0]), width=100, height=80)
    validate_prompts(Prompts(box=(0, 0, 100, 80)), width=100, height=80)
    validate_prompts(Prompts(mask=mask, points=[(50, 50)], labels=[0]), width=100, height=80)


def test_embedding_bytes_roundtrip_is_float16() -> None:
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(4, 8, 8)).astype(np.float32)
    image = rng.integers(0, 256, size=(6, 7, 3)).astype(np.uint8)
    emb = Embedding("x-1", (60, 70), {"features": feats, "image": image}, {"input_size": [55, 64]})
    data = emb.to_bytes()
    assert len(data) < 2 * (feats.size + image.size) + 400  # two bytes per value plus a header
    back = Embedding.from_bytes(data)
    assert back.engine_id == "x-1" and back.image_size == (60, 70) and back.meta == {"input_size": [55, 64]}
    np.testing.assert_allclose(back.arrays["features"], feats, rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(back.arrays["image"], image)  # uint8 is exact in float16
    with pytest.raises(EmbeddingMismatchError):
        Embedding.from_bytes(b"nope" + data[4:])
    with pytest.raises(EmbeddingMismatchError):
        Embedding.from_bytes(data[:-10])


def test_engine_refuses_an_embedding_from_another_engine() -> None:
    offline = build_engine("offline")
    grabcut = build_engine("grabcut")
    emb = grabcut.embed(np.zeros((20, 30, 3), np.uint8))
    with pytest.raises(EmbeddingMismatchError):
        offline.embedding_from_bytes(emb.to_bytes())


def test_build_engine_names() -> None:
    assert build_engine("default").engine_id.startswith("offline-")
    assert build_engine("grabcut").engine_id.startswith("grabcut-")
    with pytest.raises(ValueError, match="unknown prompt engine"):
        build_engine("nope")
    with pytest.raises(ValueError, match="checkpoint"):
        build_engine("sam")


def test_segment_to_polygons_keeps_holes_and_parts() -> None:
    mask = np.zeros((60, 80), bool)
    mask[5:45, 5:45] = True
    mask[15:30, 15:30] = False  # a hole
    mask[10:30, 55:75] = True  # a second part
    shape, vertices, iou = segment_to_polygons(SegmentResult(mask, 0.9, "t"))
    assert len(shape) == 2
    assert sorted(len(poly) for poly in shape) == [1, 2]
    assert vertices == sum(len(ring) for poly in shape for ring in poly)
    assert iou >= 0.98


def test_a_noisy_mask_gets_a_polygon_within_the_vertex_budget() -> None:
    """Like an untrained model's output: half the image, speckled through with holes and islands."""
    rng = np.random.default_rng(3)
    noise = cv2.resize(rng.random((96, 128)), (512, 384), interpolation=cv2.INTER_LINEAR)
    mask = noise > 0.5
    shape, vertices, iou = segment_to_polygons(SegmentResult(mask, 0.5, "t"))
    assert 0 < vertices <= 5000
    assert len(shape) > 10  # many parts kept, not just the largest
    # The reported IoU is the polygon's real overlap with the mask (to within a pixel's rasterising).
    assert abs(mask_iou(shape_to_mask(shape, *mask.shape), mask) - iou) < 0.03
    # Unbounded, the same mask costs several times the vertices.
    unbounded, _ = mask_to_shape_simplified(mask, max_noisy_vertices=10**9)
    assert shape_vertex_count(unbounded) > 2 * vertices


def test_first_click_is_farthest_from_the_boundary() -> None:
    gt = np.zeros((50, 60), bool)
    gt[10:31, 5:56] = True  # 21 rows x 51 cols: centre row 20, any col with distance 11
    x, y = farthest_interior_point(gt)
    assert y == 20.5 and 15 <= x <= 46
    assert next_click(gt, None) == ((x, y), 1)


def test_next_click_targets_the_largest_error_region() -> None:
    gt = np.zeros((60, 60), bool)
    gt[10:50, 10:50] = True
    pred = gt.copy()
    pred[10:50, 40:50] = False  # 400 px missed on the right
    pred[0:5, 0:10] = True  # 50 px extra in a corner
    (x, y), label = next_click(gt, pred)
    assert label == 1 and 40 <= x <= 50 and 10 <= y <= 50
    pred = gt.copy()
    pred[0:8, 0:60] = True  # only a false-positive band
    (x, y), label = next_click(gt, pred)
    assert label == 0 and y < 8
    assert next_click(gt, gt) is None


class _OracleAfterClicks:
    """A fake-free engine stand-in: returns a fixed sequence of masks (protocol test only)."""

    engine_id = "sequence"

    def __init__(self, masks: list[np.ndarray]) -> None:
        self.masks = masks
        self.calls: list[Prompts] = []

    def embed(self, image: np.ndarray) -> Embedding:
        return Embedding(self.engine_id, image.shape[:2], {})

    def segment(self, embedding: Embedding, prompts: Prompts) -> SegmentResult:
        self.calls.append(Prompts(list(prompts.points), list(prompts.labels)))
        return SegmentResult(self.masks[len(self.calls) - 1], 1.0, self.engine_id)

    def embedding_from_bytes(self, data: bytes) -> Embedding:
        return Embedding.from_bytes(data)


def test_clicker_counts_clicks_until_threshold() -> None:
    gt = np.zeros((40, 40), bool)
    gt[5:35, 5:35] = True  # 900 px
    half = gt.copy()
    half[5:35, 20:35] = False  # IoU 0.5
    most = gt.copy()
    most[5:35, 33:35] = False  # IoU 840/900 = 0.933
    engine = _OracleAfterClicks([half, most, gt])
    trace = run_clicker(engine, engine.embed(np.zeros((40, 40, 3), np.uint8)), gt)
    assert [round(v, 3) for v in trace.ious] == [0.5, 0.933]
    assert trace.noc(0.85) == 2 and trace.noc(0.90) == 2 and trace.noc(0.95) == 20
    assert engine.calls[1].labels == [1, 1]  # the second click fixed the missed half
    assert ClickTrace(ious=[0.1, 0.86, 0.91]).noc(0.85) == 2

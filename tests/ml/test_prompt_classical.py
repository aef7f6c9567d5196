"""GrabCut and the offline engine on a simple image with a clear object."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ml.geometry import mask_iou
from ml.prompt import Prompts, build_engine, segment_to_polygons
from ml.prompt.clicker import farthest_interior_point, run_clicker


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, np.ndarray]:
    """A noisy, unevenly lit grey floor with a rotated brown box carrying a white label."""
    rng = np.random.default_rng(7)
    h, w = 160, 240
    ramp = np.linspace(0.8, 1.1, w)[None, :, None]
    img = np.full((h, w, 3), (120.0, 120.0, 115.0)) * ramp
    gt = np.zeros((h, w), np.uint8)
    box = cv2.boxPoints(((120, 80), (120, 70), 20)).astype(np.int32)
    cv2.fillPoly(gt, [box], 1)
    gt = gt.astype(bool)
    img[gt] = (np.array([170.0, 120.0, 75.0]) * ramp * np.ones((h, w, 1)))[gt]
    label = np.zeros((h, w), np.uint8)
    cv2.fillPoly(label, [cv2.boxPoints(((100, 75), (30, 20), 20)).astype(np.int32)], 1)
    img[label.astype(bool)] = (240, 240, 235)
    img += rng.normal(0, 4, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), gt


@pytest.mark.parametrize(("name", "min_iou"), [("offline", 0.93), ("grabcut", 0.85)])
def test_engine_segments_the_box_from_a_box_prompt(name: str, min_iou: float, scene) -> None:
    image, gt = scene
    engine = build_engine(name)
    emb = engine.embedding_from_bytes(engine.embed(image).to_bytes())
    ys, xs = np.nonzero(gt)
    result = engine.segment(
        emb, Prompts(box=(xs.min() - 3.0, ys.min() - 3.0, xs.max() + 4.0, ys.max() + 4.0))
    )
    assert result.engine_id == engine.engine_id
    assert mask_iou(result.mask, gt) > min_iou
    shape, vertices, iou = segment_to_polygons(result)
    assert iou >= 0.98 and 4 <= vertices <= 60


def test_offline_engine_one_click_and_refinement(scene) -> None:
    image, gt = scene
    engine = build_engine("default")
    emb = engine.embed(image)
    one = engine.segment(emb, Prompts(points=[(150.0, 90.0)], labels=[1]))
    assert mask_iou(one.mask, gt) > 0.93  # the label inside is filled as a hole
    assert 0.0 < one.score <= 1.0
    # Refine a sloppy pre-label (shifted 10 px right) with one negative click where it spills.
    prev = np.roll(gt, 10, axis=1)
    spill = farthest_interior_point(prev & ~gt)
    refined = engine.segment(emb, Prompts(points=[spill], labels=[0], mask=prev))
    assert mask_iou(refined.mask, gt) > max(0.9, mask_iou(prev, gt))
    # The pre-label alone (no clicks) snaps to the object's edges.
    snapped = engine.segment(emb, Prompts(mask=prev))
    assert mask_iou(snapped.mask, gt) > 0.9


def test_offline_engine_beats_grabcut_in_clicks(scene) -> None:
    image, gt = scene
    clicks = {}
    for name in ("offline", "grabcut"):
        engine = build_engine(name)
        clicks[name] = run_clicker(engine, engine.embed(image), gt, max_clicks=8).noc(0.90, 8)
    assert clicks["offline"] <= 2
    assert clicks["offline"] <= clicks["grabcut"]

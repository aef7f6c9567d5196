"""A box prompt's score measures the result: one face of a carton does not score 1.00."""

from __future__ import annotations

import numpy as np
import pytest

from ml.prompt import Prompts, build_engine
from ml.prompt.engine import box_fit

FLOOR = (120.0, 120.0, 115.0)


@pytest.fixture(scope="module")
def carton() -> tuple[np.ndarray, tuple[float, float, float, float], np.ndarray]:
    """A carton whose lit top face (55 %) stands out and whose shaded front face looks like the floor."""
    rng = np.random.default_rng(5)
    h, w = 200, 260
    img = np.zeros((h, w, 3)) + FLOOR
    x0, y0, x1, y1 = 70, 40, 190, 160
    split = y0 + int(0.55 * (y1 - y0))
    img[y0:split, x0:x1] = (225, 195, 150)
    img[split:y1, x0:x1] = (121, 120, 116)
    img += rng.normal(0, 3, img.shape)
    gt = np.zeros((h, w), bool)
    gt[y0:y1, x0:x1] = True
    return np.clip(img, 0, 255).astype(np.uint8), (x0 - 4.0, y0 - 4.0, x1 + 4.0, y1 + 4.0), gt


@pytest.mark.parametrize(("name", "at_most"), [("offline", 0.9), ("grabcut", 0.6)])
def test_a_partial_face_from_a_box_scores_clearly_below_one(name, at_most, carton) -> None:
    image, box, gt = carton
    engine = build_engine(name)
    result = engine.segment(engine.embed(image), Prompts(box=box))
    covered = np.count_nonzero(result.mask & gt) / np.count_nonzero(gt)
    assert covered < 0.8, "the scene must give a partial result for this test to mean anything"
    assert result.score <= at_most
    assert result.score <= box_fit(result.mask, box) + 1e-9  # capped by how well it fills the box


def test_box_fit_forgives_a_loose_box_but_not_half_an_object() -> None:
    mask = np.zeros((200, 200), bool)
    mask[50:150, 40:160] = True
    assert box_fit(mask, (36.0, 46.0, 164.0, 154.0)) == 1.0  # 4 px of slack on each side
    assert box_fit(mask, (40.0, 50.0, 160.0, 250.0)) == pytest.approx(0.5)  # the mask is half the box
    assert box_fit(np.zeros((10, 10), bool), (0.0, 0.0, 5.0, 5.0)) == 0.0


def test_clicks_keep_the_engines_own_score(carton) -> None:
    image, _, _ = carton
    engine = build_engine("offline")
    result = engine.segment(engine.embed(image), Prompts(points=[(120.0, 60.0)], labels=[1]))
    assert 0.0 < result.score <= 1.0

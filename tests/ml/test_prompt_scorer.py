"""The offline engine's learned candidate scorer: features, training, loading, picking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml.prompt import Prompts, build_engine
from ml.prompt.offline import DEFAULT_SCORER, VARIANTS, OfflineEngine
from ml.prompt.offline_scorer import FEATURE_NAMES, CandidateScorer, candidate_features
from ml.prompt.train_offline_scorer import fit, pick_quality


def _image() -> np.ndarray:
    rng = np.random.default_rng(3)
    img = rng.normal(110, 4, size=(120, 160, 3))
    img[30:90, 40:120] = (180, 130, 80)
    img[50:70, 70:90] = (240, 240, 235)  # a label in the middle of the box
    return np.clip(img, 0, 255).astype(np.uint8)


def test_candidates_and_features_have_the_documented_shape() -> None:
    engine = OfflineEngine(scorer_path=None)
    assert engine.engine_id == "offline-watershed-v2"
    emb = engine.embed(_image())
    prompts = Prompts(points=[(80.5, 60.5)], labels=[1])
    cands = engine.candidates(emb, prompts)
    assert [v for v, _ in cands] == list(VARIANTS)
    _, lab, grad = engine._working_images(emb)
    feats = candidate_features(cands, lab, grad, prompts, (1.0, 1.0))
    assert feats.shape == (len(VARIANTS), len(FEATURE_NAMES)) and np.isfinite(feats).all()
    # Box and previous-mask prompts use the default variant only.
    assert len(engine.candidates(emb, Prompts(box=(35, 25, 125, 95)))) == 1


def test_scorer_trains_saves_loads_and_picks(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, len(FEATURE_NAMES))).astype(np.float32)
    y = (1 / (1 + np.exp(-2 * x[:, 0]))).astype(np.float32)  # IoU driven by the first feature
    groups = np.repeat(np.arange(80), 5)
    params = fit(x, y, epochs=200)
    quality = pick_quality(params, x, y, groups)
    assert quality["picked"] > quality["default"] and quality["picked"] <= quality["oracle"] + 1e-6
    params["feature_names"] = np.array(FEATURE_NAMES)
    path = tmp_path / "scorer.npz"
    np.savez(path, **params)
    scorer = CandidateScorer.load(path)
    assert len(scorer.weights_id) == 8
    pred = scorer.predict(x[:5])
    assert pred.shape == (5,) and ((pred >= 0) & (pred <= 1)).all()
    engine = OfflineEngine(scorer_path=path)
    assert engine.engine_id == f"offline-watershed-v2-{scorer.weights_id}"
    result = engine.segment(engine.embed(_image()), Prompts(points=[(80.5, 60.5)], labels=[1]))
    assert 0.0 <= result.score <= 1.0 and result.engine_id == engine.engine_id


def test_scorer_refuses_other_features(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, feature_names=np.array(["x"]), mean=np.zeros(1))
    with pytest.raises(ValueError, match="other features"):
        CandidateScorer.load(path)


def test_default_engine_uses_the_shipped_scorer() -> None:
    assert DEFAULT_SCORER.is_file(), f"the shipped scorer weights are missing: {DEFAULT_SCORER}"
    engine = build_engine("default")
    assert engine.engine_id.startswith("offline-watershed-v2-")
    rng = np.random.default_rng(4)
    image = rng.normal(110, 4, size=(240, 320, 3))  # the box covers 6% of the image
    image[90:150, 120:200] = (180, 130, 80)
    image[110:130, 150:170] = (240, 240, 235)  # a label in the middle of the box
    image = np.clip(image, 0, 255).astype(np.uint8)
    gt = np.zeros(image.shape[:2], bool)
    gt[90:150, 120:200] = True
    result = engine.segment(engine.embed(image), Prompts(points=[(160.5, 120.5)], labels=[1]))
    # The click is on the label; the picked candidate must still be the whole box.
    assert np.logical_and(result.mask, gt).sum() / np.logical_or(result.mask, gt).sum() > 0.9

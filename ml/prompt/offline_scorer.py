"""The learned half of the offline engine: predict each candidate mask's IoU, pick the best.

The watershed makes several candidate masks per click set (see ``offline.VARIANTS``); a tiny
MLP on shape / edge / colour features of each candidate predicts its IoU with the object the
annotator means. Trained on ``ml.synth`` scenes by ``python -m ml.prompt.train_offline_scorer``;
inference is plain NumPy. The weights file is an ``.npz`` (loaded with ``allow_pickle=False``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ml.prompt.engine import Prompts


@dataclass(frozen=True)
class Variant:
    """One way of making automatic background seeds (``offline.VARIANTS``); the scorer picks among the
    results, reading these settings as features. Defined here, beside the features, so that the engine
    imports the scorer and not the other way round."""

    colour_far: float  # Lab distance above which a pixel is "another colour"
    wide: bool  # also sample colours on a ring around the newest click
    expand: bool  # grow a mask enclosed by one uniform region to that region


FEATURE_NAMES = (
    "log_area",
    "convexity",
    "rectangularity",
    "aspect",
    "edge",
    "border",
    "inside_std",
    "contrast",
    "log_parts",
    "agreement",
    "area_vs_max",
    "log_pos",
    "log_neg",
    "neg_inside",
    "colour_far",
    "wide",
    "expand",
    "is_largest",
    "is_smallest",
)


def _shape_features(mask: np.ndarray) -> tuple[float, float, float, int]:
    """(convexity, rectangularity, aspect, parts) of a bool mask; areas in pixels."""
    m = mask.astype(np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return 0.0, 0.0, 0.0, 0
    pts = np.concatenate(contours)
    area = float(m.sum())
    hull = max(cv2.contourArea(cv2.convexHull(pts)), 1.0)
    (_, _), (rw, rh), _ = cv2.minAreaRect(pts)
    rect = max(rw * rh, 1.0)
    aspect = min(rw, rh) / max(rw, rh, 1e-6)
    return min(area / hull, 1.0), min(area / rect, 1.0), aspect, len(contours)


def candidate_features(
    cands: list[tuple[Variant, np.ndarray]],
    lab: np.ndarray,
    grad: np.ndarray,
    prompts: Prompts,
    scale: tuple[float, float],
) -> np.ndarray:
    """(n_candidates, len(FEATURE_NAMES)) float32 features. Masks, ``lab`` and ``grad`` are at
    working scale; ``scale`` = (sx, sy) maps the prompts' image pixels to it."""
    wh, ww = lab.shape[:2]
    neg = [(x * scale[0], y * scale[1]) for x, y in prompts.negative_points]
    total_area = float(wh * ww)
    # Everything below is local to the candidates: work in their joint bounding box (+8 px),
    # remembering which crop sides are real image borders.
    union = np.zeros((wh, ww), dtype=bool)
    for _, m in cands:
        union |= m
    ys, xs = np.nonzero(union)
    if len(xs):
        r0, r1 = max(int(ys.min()) - 8, 0), min(int(ys.max()) + 9, wh)
        c0, c1 = max(int(xs.min()) - 8, 0), min(int(xs.max()) + 9, ww)
    else:
        r0, r1, c0, c1 = 0, wh, 0, ww
    lab, grad = lab[r0:r1, c0:c1], grad[r0:r1, c0:c1]
    cands = [(v, m[r0:r1, c0:c1]) for v, m in cands]
    neg = [(x - c0, y - r0) for x, y in neg if c0 <= x < c1 and r0 <= y < r1] + [(-1.0, -1.0)] * sum(
        1 for x, y in neg if not (c0 <= x < c1 and r0 <= y < r1)
    )
    borders = (r0 == 0, r1 == wh, c0 == 0, c1 == ww)
    areas = np.array([m.sum() for _, m in cands], dtype=np.float64)
    kernel = np.ones((3, 3), np.uint8)
    rows = []
    for i, (variant, m) in enumerate(cands):
        area = max(areas[i], 1.0)
        convexity, rectangularity, aspect, parts = _shape_features(m)
        m8 = m.astype(np.uint8)
        edge_px = cv2.morphologyEx(m8, cv2.MORPH_GRADIENT, kernel) > 0
        edge = float(grad[edge_px].mean()) / 40.0 if edge_px.any() else 0.0
        border_px = sum(
            int(side.sum())
            for side, real in zip((m[0], m[-1], m[:, 0], m[:, -1]), borders, strict=True)
            if real
        )
        border = float(border_px) / max(float(edge_px.sum()), 1.0)
        inside = lab[m] if m.any() else np.zeros((1, 3), np.float32)
        ring = (cv2.dilate(m8, np.ones((7, 7), np.uint8)) > 0) & ~m
        outside = lab[ring] if ring.any() else inside
        contrast = float(np.linalg.norm(inside.mean(0) - outside.mean(0))) / 50.0
        inside_std = float(inside.std(0).mean()) / 30.0
        others = [j for j in range(len(cands)) if j != i]
        agreement = float(np.mean([_iou(m, cands[j][1]) for j in others])) if others else 1.0
        neg_inside = _points_inside(neg, m)
        rows.append(
            [
                np.log(area / total_area),
                convexity,
                rectangularity,
                aspect,
                edge,
                border,
                inside_std,
                contrast,
                np.log1p(parts),
                agreement,
                area / max(areas.max(), 1.0),
                np.log1p(len(prompts.positive_points)),
                np.log1p(len(prompts.negative_points)),
                neg_inside,
                variant.colour_far / 30.0,
                float(variant.wide),
                float(variant.expand),
                float(areas[i] == areas.max()),
                float(areas[i] == areas.min()),
            ]
        )
    return np.asarray(rows, dtype=np.float32)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _points_inside(points: list[tuple[float, float]], mask: np.ndarray) -> float:
    """Share of ``points`` (mask pixel coords) that fall inside ``mask``."""
    if not points:
        return 0.0
    wh, ww = mask.shape
    hits = sum(bool(mask[min(int(y), wh - 1), min(int(x), ww - 1)]) for x, y in points if x >= 0 and y >= 0)
    return hits / len(points)


class CandidateScorer:
    """Two-layer MLP on standardised features -> predicted IoU in [0, 1] (NumPy inference)."""

    def __init__(self, params: dict[str, np.ndarray], weights_id: str) -> None:
        self.params = params
        self.weights_id = weights_id

    @classmethod
    def load(cls, path: str | Path) -> CandidateScorer:
        raw = Path(path).read_bytes()
        with np.load(path, allow_pickle=False) as data:
            params = {k: np.asarray(data[k]) for k in data.files}
        names = tuple(str(n) for n in params.get("feature_names", np.array([])))
        if names != FEATURE_NAMES:
            raise ValueError(f"scorer {path} was trained on other features: {names}")
        return cls(params, hashlib.sha256(raw).hexdigest()[:8])

    def predict(self, features: np.ndarray) -> np.ndarray:
        p = self.params
        x = (features - p["mean"]) / p["std"]
        x = np.maximum(x @ p["w1"] + p["b1"], 0.0)
        x = np.maximum(x @ p["w2"] + p["b2"], 0.0)
        z = x @ p["w3"] + p["b3"]
        return 1.0 / (1.0 + np.exp(-z[:, 0]))

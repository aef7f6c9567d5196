"""Scores that mean something: a shape's score as the probability that it is a real package.

The grouping's raw score (mean class probability x mean seed interior) ranks shapes well but
is not a probability. Platt scaling (Platt, 1999; Guo et al., 2017) fits two numbers on a
validation set: p = sigmoid(a * logit(raw) + b), where a shape is *correct* when it matches a
labelled package at IoU >= 0.5 (each label matched at most once, highest scores first). Two
parameters are what a few hundred shapes can support; isotonic regression needs thousands.

A checkpoint stores the fit in ``meta["score_calibration"]`` (``{"a", "b"}``) and the default
pre-label threshold in ``meta["default_threshold"]``: the calibrated probability above which a
shape is more likely a package than not, unless the fit says otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_THRESHOLD = 0.5  # a calibrated shape is pre-labelled when more likely a package than not
UNCALIBRATED_THRESHOLD = 0.0  # a checkpoint without a calibration pre-labels every shape, as before it
_EPS = 1e-6
_MAX_LOGIT = 700.0


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def calibrated_score(raw: float, calibration: dict[str, Any] | None) -> float:
    """The calibrated probability of one raw grouping score (the raw score when uncalibrated)."""
    if not calibration:
        return float(raw)
    z = float(calibration["a"]) * float(_logit(np.array([raw]))[0]) + float(calibration["b"])
    z = min(max(z, -_MAX_LOGIT), _MAX_LOGIT)  # math.exp overflows past about 709
    return 1.0 / (1.0 + math.exp(-z))


def fit_platt(
    raw_scores: Sequence[float], correct: Sequence[bool], iterations: int = 200
) -> dict[str, float]:
    """Fit {"a", "b"} by Newton's method on the log loss of sigmoid(a * logit(raw) + b).

    Targets use Platt's prior correction ((n+ + 1) / (n+ + 2) and 1 / (n- + 2)), so a perfectly
    separated set still gives finite parameters.
    """
    x = _logit(np.asarray(raw_scores, dtype=np.float64))
    y = np.asarray(correct, dtype=bool)
    if x.size == 0:
        raise ValueError("no predictions to calibrate on")
    positives, negatives = int(y.sum()), int((~y).sum())
    t = np.where(y, (positives + 1) / (positives + 2), 1 / (negatives + 2))

    def loss(a: float, b: float) -> float:
        z = a * x + b  # the log loss, written so that no exp overflows: log(1 + e^-z) and log(1 + e^z)
        return float(np.sum(t * np.logaddexp(0, -z) + (1 - t) * np.logaddexp(0, z)))

    a, b = 1.0, 0.0
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(a * x + b, -_MAX_LOGIT, _MAX_LOGIT)))
        w = np.maximum(p * (1 - p), 1e-12)
        grad = np.array([np.sum((p - t) * x), np.sum(p - t)])
        hess = np.array([[np.sum(w * x * x), np.sum(w * x)], [np.sum(w * x), np.sum(w)]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        # A full Newton step can overshoot where the scores barely overlap (a fine-tune's few val scenes once
        # gave a = 5.7e10); halve it until the loss falls (Lin, Lin and Weng, 2007, on Platt's method).
        current, scale = loss(a, b), 1.0
        while scale > 1e-10 and loss(a - scale * step[0], b - scale * step[1]) > current:
            scale /= 2
        a, b = a - scale * step[0], b - scale * step[1]
        if np.abs(scale * step).max() < 1e-9:
            break
    return {"a": round(float(a), 6), "b": round(float(b), 6)}


def reliability(probabilities: Sequence[float], correct: Sequence[bool], bins: int = 10) -> dict[str, Any]:
    """Reliability diagram (equal-width bins) and expected calibration error.

    Returns {"ece", "bins": [{"low", "high", "count", "mean_probability", "accuracy"}]}; ECE is the
    count-weighted mean |accuracy - mean probability| over non-empty bins.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for k in range(bins):
        members = index == k
        count = int(members.sum())
        row: dict[str, Any] = {
            "low": round(float(edges[k]), 3),
            "high": round(float(edges[k + 1]), 3),
            "count": count,
        }
        if count:
            row["mean_probability"] = round(float(p[members].mean()), 4)
            row["accuracy"] = round(float(y[members].mean()), 4)
            ece += count * abs(row["accuracy"] - row["mean_probability"])
        rows.append(row)
    return {"ece": round(ece / max(p.size, 1), 4), "bins": rows}


def plot_reliability(report: dict[str, Any], path: str | Path, size: int = 480) -> Path:
    """A reliability diagram (PNG): share of shapes matching a labelled package against their mean
    score, per bin, for the raw grouping score (grey) and the calibrated one (blue)."""
    import cv2

    margin = 56
    img = np.full((size, size, 3), 255, np.uint8)
    span = size - 2 * margin

    def pt(x: float, y: float) -> tuple[int, int]:
        return margin + int(round(x * span)), size - margin - int(round(y * span))

    font = cv2.FONT_HERSHEY_SIMPLEX
    for v in (0.0, 0.25, 0.5, 0.75, 1.0):
        cv2.line(img, pt(0, v), pt(1, v), (230, 230, 230), 1)
        cv2.putText(img, f"{v:.2f}", (6, pt(0, v)[1] + 4), font, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
        cv2.putText(
            img, f"{v:.2f}", (pt(v, 0)[0] - 14, size - margin + 18), font, 0.4, (60, 60, 60), 1, cv2.LINE_AA
        )
    cv2.line(img, pt(0, 0), pt(1, 1), (180, 180, 180), 1, cv2.LINE_AA)
    cv2.line(img, pt(report["default_threshold"], 0), pt(report["default_threshold"], 1), (150, 150, 150), 1)
    rows = (
        ("reliability_raw", "raw score", (140, 140, 140)),
        ("reliability_calibrated", "calibrated", (200, 90, 20)),
    )
    for k, (key, label, colour) in enumerate(rows):
        points = [pt(b["mean_probability"], b["accuracy"]) for b in report[key]["bins"] if b["count"]]
        for a, b in zip(points, points[1:], strict=False):
            cv2.line(img, a, b, colour, 2, cv2.LINE_AA)
        for p in points:
            cv2.circle(img, p, 4, colour, -1, cv2.LINE_AA)
        cv2.putText(
            img,
            f"{label}: ECE {report[key]['ece']:.3f}",
            (margin + 8, margin - 30 + 16 * k),
            font,
            0.45,
            colour,
            1,
            cv2.LINE_AA,
        )
    validation = report["validation"]
    cv2.putText(
        img,
        f"real val {validation['subset']}, {validation['images']} photos: share matched (IoU 0.5) vs score",
        (8, size - 10),
        font,
        0.4,
        (0, 0, 0),
        1,
        cv2.LINE_AA,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return path

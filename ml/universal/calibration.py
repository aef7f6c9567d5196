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
from typing import Any

import numpy as np

DEFAULT_THRESHOLD = 0.5  # a calibrated shape is pre-labelled when more likely a package than not
UNCALIBRATED_THRESHOLD = 0.0  # a checkpoint without a calibration pre-labels every shape, as before it
_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def calibrated_score(raw: float, calibration: dict[str, Any] | None) -> float:
    """The calibrated probability of one raw grouping score (the raw score when uncalibrated)."""
    if not calibration:
        return float(raw)
    z = float(calibration["a"]) * float(_logit(np.array([raw]))[0]) + float(calibration["b"])
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
    a, b = 1.0, 0.0
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-(a * x + b)))
        w = np.maximum(p * (1 - p), 1e-12)
        grad = np.array([np.sum((p - t) * x), np.sum(p - t)])
        hess = np.array([[np.sum(w * x * x), np.sum(w * x)], [np.sum(w * x), np.sum(w)]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-9:
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

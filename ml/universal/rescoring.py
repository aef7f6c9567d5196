"""A shape's score from all of its evidence: logistic rescoring of the grouping's instances.

Why: the grouping scores a shape by one fixed formula (``centers.group_with_centers``: the noisy-or of
its centre's and its interior seed's scores). On the real val captures the fifteenth file's centres,
scored alone as boxes, gave box AP50 0.351 against 0.288 for its shapes, though both reach the same
labels: the shapes lose in the ranking, not in what they find. Which evidence to trust differs by
how a shape arose (confirmed by a centre, grown from one, or seeded with no centre) and by what the
maps say under its mask, so a logistic regression weighs it instead (the rescoring step of
two-stage detectors; here over a handful of features, fitted on labelled shapes by ``ml.universal.rescore``).

* ``shape_features``: ``FEATURES`` of one instance, from its ``RawInstance`` evidence and the maps.
* ``fit_rescorer``: an L2-regularised logistic regression (Newton's method), standardised features.
* ``Rescorer.rescore`` gives each instance the probability that it matches a package, in place of its
  raw score. A checkpoint stores it in ``meta["rescorer"]``; Platt scaling (``calibration``) still runs
  after it, fitted on the val photos, since a rescorer fitted on training photos is over-confident there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ml.universal.grouping import ORIGINS, RawInstance

FEATURES = (
    "centre",
    "seeded",
    "log_centre",
    "log_seeded",
    *(f"origin_{name}" for name in ORIGINS[1:]),  # "seeded" is the reference origin
    "foreground",  # mean foreground probability under the mask
    "interior",  # mean interior value under the mask
)
L2 = 30.0  # on standardised features; 1 and 30 ranked real val captures alike (2026-12-07)
_LOG_FLOOR = 1e-3  # log of a score of 0 (no centre, no seed) is taken at this


def shape_features(instance: RawInstance, probs: np.ndarray, interior: np.ndarray) -> np.ndarray:
    """``FEATURES`` of ``instance`` (its mask at the maps' resolution) given the class probabilities
    (C + 1, H, W) and the interior map (H, W) it was grouped from."""
    mask = instance.mask
    area = max(int(mask.sum()), 1)
    origin = [float(instance.origin == name) for name in ORIGINS[1:]]
    return np.array(
        [
            instance.centre,
            instance.seeded,
            np.log(max(instance.centre, _LOG_FLOOR)),
            np.log(max(instance.seeded, _LOG_FLOOR)),
            *origin,
            1.0 - float(probs[0][mask].sum()) / area,
            float(interior[mask].sum()) / area,
        ],
        dtype=np.float64,
    )


@dataclasses.dataclass(frozen=True)
class Rescorer:
    """p = sigmoid(weights . (x - mean) / scale + bias) over ``features`` (names, ``FEATURES`` order)."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float

    def probability(self, x: np.ndarray) -> np.ndarray:
        """The probability of each row of ``x`` (N, len(features))."""
        z = ((np.asarray(x, np.float64) - self.mean) / self.scale) @ np.asarray(self.weights) + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def rescore(
        self, instances: Sequence[RawInstance], probs: np.ndarray, interior: np.ndarray
    ) -> list[RawInstance]:
        """``instances`` with each score replaced by its probability (their evidence kept)."""
        if not instances:
            return []
        x = np.stack([shape_features(r, probs, interior) for r in instances])
        return [
            dataclasses.replace(r, score=float(p))
            for r, p in zip(instances, self.probability(x), strict=True)
        ]

    def to_meta(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_meta(cls, meta: dict[str, Any] | None) -> Rescorer | None:
        """The rescorer a checkpoint stores, or None. One fitted on other features is refused by name."""
        if not meta:
            return None
        if tuple(meta["features"]) != FEATURES:
            raise ValueError(
                f"the checkpoint's rescorer uses features {meta['features']}, not {list(FEATURES)}"
            )
        return cls(
            features=FEATURES,
            mean=tuple(float(v) for v in meta["mean"]),
            scale=tuple(float(v) for v in meta["scale"]),
            weights=tuple(float(v) for v in meta["weights"]),
            bias=float(meta["bias"]),
        )


def fit_rescorer(
    x: np.ndarray,
    correct: Sequence[bool] | np.ndarray,
    sample_weight: Sequence[float] | np.ndarray | None = None,
    l2: float = L2,
    iterations: int = 50,
) -> Rescorer:
    """A ``Rescorer`` fitted by Newton's method on the weighted log loss plus ``l2`` x |weights|^2 / 2
    (the bias is not penalised). ``x``: (N, len(FEATURES)); ``correct``: whether each shape matches."""
    x = np.asarray(x, np.float64)
    y = np.asarray(correct, np.float64)
    if x.ndim != 2 or x.shape[1] != len(FEATURES) or len(y) != len(x):
        raise ValueError(f"expected features (N, {len(FEATURES)}) and N outcomes, got {x.shape} and {len(y)}")
    if len(y) == 0 or y.min() == y.max():
        raise ValueError("rescoring needs both shapes that match a package and shapes that do not")
    weight = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = np.c_[(x - mean) / scale, np.ones(len(x))]
    penalty = l2 * np.diag([*np.ones(z.shape[1] - 1), 0.0])
    w = np.zeros(z.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-z @ w))
        grad = z.T @ (weight * (p - y)) + penalty @ w
        hess = (z * (weight * p * (1 - p))[:, None]).T @ z + penalty + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return Rescorer(
        features=FEATURES,
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        weights=tuple(float(v) for v in w[:-1]),
        bias=float(w[-1]),
    )

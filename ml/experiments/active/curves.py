"""The statistics of the simulation's curves (mask AP against labels): means over pools, ``label_savings``,
the paired gain and the savings' spread over resampled pools."""

from __future__ import annotations

from typing import Any

import numpy as np

MASK_KEYS = ("mask_ap", "mask_ap50")  # the synthetic site's curves; the real site's are ("box_ap50",)


def mean_curve(curves: list[list[dict[str, Any]]], keys: tuple[str, ...] = MASK_KEYS) -> list[dict[str, Any]]:
    """Point-wise mean (of each of ``keys``) of curves that share their label counts."""
    return [
        {
            "labels": points[0]["labels"],
            **{key: round(float(np.mean([p[key] for p in points])), 4) for key in keys},
        }
        for points in zip(*curves, strict=True)
    ]


def label_savings(
    random_curve: list[dict], active_curve: list[dict], key: str = "mask_ap"
) -> tuple[float, float | None]:
    """(savings, labels the active strategy needed) to reach random's final AP (``key``); see the module doc
    of ``ml.experiments.active.simulate``."""
    target, n_random = random_curve[-1][key], random_curve[-1]["labels"]
    if target <= random_curve[0][key]:  # labels did not help random at all: nothing to save
        return 0.0, None
    for prev, cur in zip(active_curve, active_curve[1:], strict=False):
        if cur[key] >= target:
            gain = cur[key] - prev[key]
            frac = 1.0 if gain <= 0 else (target - prev[key]) / gain
            needed = prev["labels"] + max(0.0, min(1.0, frac)) * (cur["labels"] - prev["labels"])
            return round(1.0 - needed / n_random, 4), round(needed, 1)
    return 0.0, None


def paired_gain(
    random_curves: list[list[dict]], active_curves: list[list[dict]], key: str = "mask_ap"
) -> dict[str, float | None]:
    """The active strategy's lead in mask AP over random on the same pools: each pool's mean over the
    labelled rounds of (active - random), then their mean and its standard error over the pools.
    Steadier than ``label_savings``, which swings where random's curve is flat."""
    per_pool = [
        float(np.mean([a[key] - r[key] for r, a in zip(rc[1:], ac[1:], strict=True)]))
        for rc, ac in zip(random_curves, active_curves, strict=True)
    ]
    error = round(float(np.std(per_pool, ddof=1) / np.sqrt(len(per_pool))), 4) if len(per_pool) > 1 else None
    return {"mean": round(float(np.mean(per_pool)), 4), "standard_error": error}  # no error from one pool


def label_savings_spread(
    random_curves: list[list[dict]],
    active_curves: list[list[dict]],
    *,
    target: float,
    draws: int = 2000,
    seed: int = 0,
    key: str = "mask_ap",
) -> dict[str, float]:
    """How far ``label_savings`` could move with other pools: the statistic over ``draws`` resamples of the
    pools (with replacement, each pool's two curves kept together), as its 5th, 50th and 95th percentiles
    and the share of resamples at or above ``target``."""
    rng = np.random.default_rng(seed)
    n = len(random_curves)
    values = []
    for _ in range(draws):
        pick = rng.integers(0, n, n)
        values.append(
            label_savings(
                mean_curve([random_curves[i] for i in pick], (key,)),
                mean_curve([active_curves[i] for i in pick], (key,)),
                key,
            )[0]
        )
    p05, p50, p95 = (round(float(v), 4) for v in np.percentile(values, [5, 50, 95]))
    return {
        "p05": p05,
        "median": p50,
        "p95": p95,
        "share_at_target": round(float(np.mean(np.array(values) >= target)), 3),
    }


def savings_figures(
    random_curves: list[list[dict]], active_curves: list[list[dict]], *, target: float, key: str = "mask_ap"
) -> dict[str, Any]:
    """The report's savings figures over the pools' curves (``key``): ``label_savings`` of the mean curves and
    the labels it took, each pool's own, the paired gain and the spread over resampled pools."""
    savings, needed = label_savings(mean_curve(random_curves, (key,)), mean_curve(active_curves, (key,)), key)
    return {
        "label_savings": savings,
        "active_labels_to_match_random": needed,
        # the spread: each pool's own active curve against its own random curve
        "label_savings_per_repeat": [
            label_savings(r, a, key)[0] for r, a in zip(random_curves, active_curves, strict=True)
        ],
        "paired_gain": paired_gain(random_curves, active_curves, key),
        # a single run's figure swings with its pools: one pool moves it by ~0.08 (docs/active_learning.md)
        "label_savings_spread": label_savings_spread(random_curves, active_curves, target=target, key=key),
    }

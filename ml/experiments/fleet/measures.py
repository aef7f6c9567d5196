"""The fleet proof's measures: the labels a team needs to reach an AP (with a paired bootstrap of the saving), and
what each base generation forgot."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ml.universal.coco_eval import ImageMatches, pooled_ap50


def labels_to_reach(curve: list[dict[str, float]], target: float, key: str = "mask_ap") -> float | None:
    """Fewest labels at which a (labels, ``key``) curve reaches ``target``, linearly interpolated."""
    prev = None
    for point in curve:
        if point[key] >= target:
            if prev is None or point[key] == prev[key]:
                return float(point["labels"])
            frac = (target - prev[key]) / (point[key] - prev[key])
            return round(prev["labels"] + frac * (point["labels"] - prev["labels"]), 2)
        prev = point
    return None


def forgetting(
    matrix: dict[str, dict[str, float]], first_sets: list[str], teams: list[str], tolerance: float
) -> list[dict[str, Any]]:
    """The AP change of each base generation (``matrix``: version -> set -> AP, in order) on what the previous
    base already knew: the ``first_sets`` (e.g. the synthetic held-out set) and the sets of the teams whose
    data it was trained on (team k's data first reach base v(k + 1)). ``ok``: no fall beyond ``tolerance``."""
    versions = list(matrix)
    rows = []
    for i in range(1, len(versions)):
        prev, cur = versions[i - 1], versions[i]
        for name in [*first_sets, *teams[: i - 1]]:
            delta = round(matrix[cur][name] - matrix[prev][name], 4)
            rows.append(
                {
                    "from": prev,
                    "to": cur,
                    "set": name,
                    "before": matrix[prev][name],
                    "after": matrix[cur][name],
                    "delta": delta,
                    "ok": delta >= -tolerance,
                }
            )
    return rows


def label_reduction_interval(
    curves: dict[str, list[tuple[int, Sequence[ImageMatches]]]],
    *,
    reference: str = "v1",
    compared: str = "v3",
    draws: int = 500,
    seed: int = 0,
) -> dict[str, Any]:
    """The label saving of ``compared`` over ``reference`` with a paired bootstrap over the val images.

    ``curves``: each version's (labels, per-image ``image_matches``) points, every point on the same val images
    in the same order. The target is the reference's AP with its most labels, as in the point figure. Each draw
    resamples the images once and scores every point of both curves on that same draw, so the points keep
    their pairing: ``labels_to_reach`` for each curve, then the saving 1 - compared / reference. A curve that
    never reaches the target in a draw gives no saving that draw (reported as ``never``; it counts below every
    saving in the percentiles, so a low end of None says so in over 2.5 % of draws). Also each point's AP
    interval from the same draws, and ``share_at_least``: the share of draws with a saving of at least each of
    0, 0.3."""
    lengths = {len(m) for points in curves.values() for _, m in points}
    if len(lengths) != 1:
        raise ValueError(f"every curve point needs the same val images, got {sorted(lengths)} images")
    n = lengths.pop()

    def saving(picked: Sequence[int] | range) -> tuple[float | None, dict[str, list[float]]]:
        aps = {v: [pooled_ap50(m, picked) for _, m in points] for v, points in curves.items()}
        target = aps[reference][-1]
        needed = {
            v: labels_to_reach(
                [{"labels": labels, "ap": ap} for (labels, _), ap in zip(curves[v], aps[v], strict=True)],
                target,
                key="ap",
            )
            for v in (reference, compared)
        }
        ref, cmp = needed[reference], needed[compared]
        value = None if ref is None or cmp is None or ref == 0 else 1.0 - cmp / ref
        return value, aps

    point, point_aps = saving(range(n))
    rng = np.random.default_rng(seed)
    values: list[float | None] = []
    per_point: dict[str, list[list[float]]] = {v: [[] for _ in points] for v, points in curves.items()}
    for _ in range(draws):
        value, aps = saving(rng.integers(0, n, size=n).tolist())
        values.append(value)
        for v, row in aps.items():
            for k, ap in enumerate(row):
                per_point[v][k].append(ap)
    ranked = sorted(values, key=lambda v: -math.inf if v is None else v)

    def rank(q: float) -> float | None:
        value = ranked[min(len(ranked) - 1, int(q * len(ranked)))]
        return None if value is None else round(value, 4)

    return {
        "reduction": None if point is None else round(point, 4),
        "low": rank(0.025),
        "high": rank(0.975),
        "never": sum(v is None for v in values),
        "share_at_least": {
            f"{t:g}": round(sum(v is not None and v >= t for v in values) / draws, 3) for t in (0.0, 0.3)
        },
        "draws": draws,
        "images": n,
        "points": {
            v: [
                {
                    "labels": labels,
                    "box_ap50": round(point_aps[v][k], 4),
                    "low": round(float(np.percentile(per_point[v][k], 2.5)), 4),
                    "high": round(float(np.percentile(per_point[v][k], 97.5)), 4),
                }
                for k, (labels, _) in enumerate(points)
            ]
            for v, points in curves.items()
        },
    }

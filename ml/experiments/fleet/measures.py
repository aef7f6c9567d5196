"""The fleet proof's two measures: the labels a team needs to reach an AP, and what each base generation forgot."""

from __future__ import annotations

from typing import Any


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

"""The fleet proof's figure (OpenCV drawing; no plotting library needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
PALETTE = [(200, 90, 40), (40, 150, 40), (60, 60, 210), (160, 60, 160), (30, 160, 200)]  # BGR


def _panel(
    img: np.ndarray,
    box: tuple[int, int, int, int],
    title: str,
    x_labels: list[str],
    series: dict[str, list[float]],
    x_title: str,
    target: float | None = None,
) -> None:
    x0, y0, w, h = box
    left, right, top, bottom = 56, 12, 40, 50
    values = [v for s in series.values() for v in s] + ([target] if target is not None else [])
    lo, hi = min(values), max(values)
    pad = max(0.01, 0.1 * (hi - lo))
    lo, hi = max(0.0, lo - pad), hi + pad
    n = max(len(x_labels) - 1, 1)

    def pt(i: float, v: float) -> tuple[int, int]:
        return (
            int(x0 + left + (w - left - right) * i / n),
            int(y0 + h - bottom - (h - top - bottom) * (v - lo) / (hi - lo)),
        )

    cv2.putText(img, title, (x0 + left, y0 + 22), FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        cv2.line(img, pt(0, v), pt(n, v), (230, 230, 230), 1)
        cv2.putText(img, f"{v:.3f}", (x0 + 4, pt(0, v)[1] + 4), FONT, 0.38, (60, 60, 60), 1, cv2.LINE_AA)
    cv2.line(img, pt(0, lo), pt(n, lo), (0, 0, 0), 1)
    cv2.line(img, pt(0, lo), pt(0, hi), (0, 0, 0), 1)
    for i, label in enumerate(x_labels):
        x, _ = pt(i, lo)
        cv2.putText(img, label, (x - 8, y0 + h - bottom + 18), FONT, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    cv2.putText(img, x_title, (x0 + w // 2 - 40, y0 + h - 12), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    if target is not None:
        cv2.line(img, pt(0, target), pt(n, target), (150, 150, 150), 1, cv2.LINE_4)
    for k, (name, ys) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        points = [pt(i, v) for i, v in enumerate(ys)]
        for a, b in zip(points, points[1:], strict=False):
            cv2.line(img, a, b, colour, 2, cv2.LINE_AA)
        for p in points:
            cv2.circle(img, p, 4, colour, -1, cv2.LINE_AA)
        ly = y0 + top + 4 + 16 * k
        cv2.line(img, (x0 + w - 150, ly - 4), (x0 + w - 128, ly - 4), colour, 2)
        cv2.putText(img, name, (x0 + w - 122, ly), FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)


def draw_plot(report: dict[str, Any], path: Path, width: int = 1000, height: int = 420) -> Path:
    """Left: team 3's AP (mask AP; box AP50 for real teams) against its labels, from base v1 and v3. Right:
    every base on every set."""
    img = np.full((height, width, 3), 255, np.uint8)
    eff = report["label_efficiency"]
    key = eff.get("key", "mask_ap")
    _panel(
        img,
        (0, 0, width // 2, height),
        f"{eff['team']} ({eff['domain']}): fine-tuned {'box AP50' if key == 'box_ap50' else 'mask AP'}",
        [str(p["labels"]) for p in eff["curves"]["v1"]],
        {f"from base {k}": [p[key] for p in c] for k, c in eff["curves"].items()},
        "own labelled images",
        target=eff["target"],
    )
    versions = list(report["bases"])
    sets = list(report["bases"][versions[0]])
    _panel(
        img,
        (width // 2, 0, width // 2, height),
        "each base on each set (teams: box AP50)"
        if key == "box_ap50"
        else "each base version on each set (mask AP)",
        versions,
        {name: [report["bases"][v][name] for v in versions] for name in sets},
        "base version",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return path

"""The simulation's plot: mask AP against labels for both strategies (OpenCV drawing, no plotting library)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np


def draw_plot(report: dict[str, Any], path: Path, width: int = 720, height: int = 440) -> Path:
    """Mask AP (a real pool's report: box AP50) against labels for both strategies (OpenCV drawing)."""
    img = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 70, 24, 50, 60
    curves = report["curves"]
    key = report.get("metric", "mask_ap")
    xs = [p["labels"] for c in curves.values() for p in c]
    ys = [p[key] for c in curves.values() for p in c]
    x_max = max(xs) or 1
    y_lo, y_hi = min(ys), max(ys)
    pad = max(0.01, 0.1 * (y_hi - y_lo))
    y_lo, y_hi = max(0.0, y_lo - pad), y_hi + pad

    def pt(x: float, y: float) -> tuple[int, int]:
        return (
            int(left + (width - left - right) * x / x_max),
            int(height - bottom - (height - top - bottom) * (y - y_lo) / (y_hi - y_lo)),
        )

    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.line(img, pt(0, y_lo), pt(x_max, y_lo), (0, 0, 0), 1)
    cv2.line(img, pt(0, y_lo), pt(0, y_hi), (0, 0, 0), 1)
    for k in range(5):
        y = y_lo + (y_hi - y_lo) * k / 4
        cv2.putText(img, f"{y:.3f}", (8, pt(0, y)[1] + 4), font, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
        cv2.line(img, pt(0, y), pt(x_max, y), (230, 230, 230), 1)
    for p in next(iter(curves.values())):
        x, _ = pt(p["labels"], y_lo)
        cv2.putText(
            img, str(p["labels"]), (x - 8, height - bottom + 18), font, 0.4, (60, 60, 60), 1, cv2.LINE_AA
        )
    colours = {"random": (80, 80, 200), "uncertainty+diversity": (40, 150, 40)}  # BGR
    for name, curve in curves.items():
        points = [pt(p["labels"], p[key]) for p in curve]
        for a, b in zip(points, points[1:], strict=False):
            cv2.line(img, a, b, colours.get(name, (0, 0, 0)), 2, cv2.LINE_AA)
        for p in points:
            cv2.circle(img, p, 4, colours.get(name, (0, 0, 0)), -1, cv2.LINE_AA)
    target = report["random_final"][key]
    cv2.line(img, pt(0, target), pt(x_max, target), (150, 150, 150), 1, cv2.LINE_4)
    cv2.putText(img, "labelled images", (width // 2 - 50, height - 18), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(
        img,
        "val box AP50" if key == "box_ap50" else "val mask AP",
        (8, 30),
        font,
        0.5,
        (0, 0, 0),
        1,
        cv2.LINE_AA,
    )
    data = "real photos (site W)" if key == "box_ap50" else "synthetic data"
    title = f"active learning on {data}: label_savings = {report['label_savings']:.2f}"
    cv2.putText(img, title, (left + 60, 30), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    for k, (name, colour) in enumerate(colours.items()):
        y = height - bottom - 14 - 18 * (len(colours) - 1 - k)  # lower right: rising curves end high there
        cv2.line(img, (width - 230, y - 4), (width - 205, y - 4), colour, 2)
        cv2.putText(img, name, (width - 198, y), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return path

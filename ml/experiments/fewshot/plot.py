"""The few-shot figure: box AP50 on site W's held-out videos against labelled W frames (OpenCV drawing).

Base + N is a line with its 95% bootstrap intervals as bars; scratch + N are points; scratch on all of the
pool is a dashed level. The x axis is logarithmic in N (the base alone sits at the left edge).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
BASE, SCRATCH, GRID = (200, 90, 40), (60, 60, 210), (225, 225, 225)  # BGR


def draw_plot(report: dict[str, Any], path: Path, size: tuple[int, int] = (720, 440)) -> Path:
    width, height = size
    img = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 64, 24, 44, 56
    pool = int(report["splits"]["w_pool"])
    rows = report["rows"]

    def labels(row: dict[str, Any]) -> int:
        return pool if row["n"] == "all" else int(row["n"])

    top_value = max(max(r["high"] for r in rows), 0.05) * 1.1
    x_max = math.log10(pool * 1.3)

    def pt(n: int, v: float) -> tuple[int, int]:
        x = math.log10(max(n, 1)) / x_max
        return (
            int(left + (width - left - right) * x),
            int(height - bottom - (height - top - bottom) * v / top_value),
        )

    for k in range(6):
        v = top_value * k / 5
        y = pt(1, v)[1]
        cv2.line(img, (left, y), (width - right, y), GRID, 1)
        cv2.putText(img, f"{v:.3f}", (6, y + 4), FONT, 0.4, (90, 90, 90), 1, cv2.LINE_AA)
    for n in (1, 10, 30, 100, 300, pool):
        x = pt(n, 0)[0]
        cv2.putText(
            img, "0" if n == 1 else str(n), (x - 10, height - bottom + 18), FONT, 0.4, (90, 90, 90), 1
        )
    cv2.putText(
        img, "labelled W frames (log scale; 0 = base alone)", (left, height - 14), FONT, 0.45, (0, 0, 0), 1
    )
    cv2.putText(img, "box AP50 on W's held-out videos (95% bootstrap)", (left, 24), FONT, 0.5, (0, 0, 0), 1)
    base = sorted((r for r in rows if r["kind"] == "base"), key=labels)
    for a, b in zip(base, base[1:], strict=False):
        cv2.line(img, pt(labels(a), a["box_ap50"]), pt(labels(b), b["box_ap50"]), BASE, 2, cv2.LINE_AA)
    for row in rows:
        colour = BASE if row["kind"] == "base" else SCRATCH
        n = labels(row)
        cv2.line(img, pt(n, row["low"]), pt(n, row["high"]), colour, 1, cv2.LINE_AA)
        cv2.circle(img, pt(n, row["box_ap50"]), 4, colour, -1, cv2.LINE_AA)
    if "scratch_all" in report:  # a run of the base arms only has no scratch level
        level = report["scratch_all"]["box_ap50"]
        for x in range(left, width - right, 12):
            y = pt(1, level)[1]
            cv2.line(img, (x, y), (x + 6, y), SCRATCH, 1)
    cv2.putText(img, "base (no W) + N, fine-tuned", (width - 300, top + 14), FONT, 0.45, BASE, 1, cv2.LINE_AA)
    if any(row["kind"] == "scratch" for row in rows):
        cv2.putText(
            img, "scratch + N; dashed: scratch + all", (width - 300, top + 32), FONT, 0.45, SCRATCH, 1
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return path

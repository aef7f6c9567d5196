"""The standard clicker protocol for interactive segmentation (NoC metrics).

* First click: positive, at the interior point of the object farthest from its boundary.
* Each next click: take the largest connected error region (false negatives -> positive
  click, false positives -> negative click; largest by pixel area, 8-connected) and click at
  its interior point farthest from the region's boundary.
* Distances are Euclidean (``cv2.distanceTransform``); the image border counts as boundary.
* Stop after ``max_clicks`` (20) or, to save time, once IoU >= ``stop_iou``.

Clicks are returned in image pixel coords: pixel (col, row) is clicked at (col+0.5, row+0.5).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from ml.geometry import mask_iou
from ml.prompt.engine import Embedding, PromptEngine, Prompts


def farthest_interior_point(region: np.ndarray) -> tuple[float, float]:
    """(x, y) pixel centre of the point of ``region`` farthest from its boundary."""
    padded = np.pad(region.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    row, col = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return float(col) + 0.5, float(row) + 0.5


def next_click(gt: np.ndarray, pred: np.ndarray | None) -> tuple[tuple[float, float], int] | None:
    """The next click ((x, y), label) for ground truth ``gt`` given prediction ``pred``.

    ``pred=None`` means no prediction yet (first click). Returns None when there is no error.
    """
    gt = gt.astype(bool)
    if pred is None:
        return farthest_interior_point(gt), 1
    best: tuple[int, np.ndarray, int] | None = None
    for error, label in ((gt & ~pred, 1), (pred & ~gt, 0)):
        n, labels, stats, _ = cv2.connectedComponentsWithStats(error.astype(np.uint8), connectivity=8)
        if n <= 1:
            continue
        idx = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        area = int(stats[idx, cv2.CC_STAT_AREA])
        if best is None or area > best[0]:
            best = (area, labels == idx, label)
    if best is None:
        return None
    return farthest_interior_point(best[1]), best[2]


@dataclass
class ClickTrace:
    """IoU after each click and the per-click segment latency in milliseconds."""

    ious: list[float] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)

    def noc(self, threshold: float, max_clicks: int = 20) -> int:
        """Clicks needed to reach ``threshold`` IoU; ``max_clicks`` if never reached."""
        for i, iou in enumerate(self.ious, start=1):
            if iou >= threshold:
                return i
        return max_clicks


def run_clicker(
    engine: PromptEngine,
    embedding: Embedding,
    gt: np.ndarray,
    *,
    max_clicks: int = 20,
    stop_iou: float | None = 0.90,
    use_previous_mask: bool = False,
) -> ClickTrace:
    """Simulate an annotator on one object; ``gt`` is a bool (H, W) mask of the image's size."""
    prompts = Prompts()
    trace = ClickTrace()
    pred: np.ndarray | None = None
    for _ in range(max_clicks):
        click = next_click(gt, pred)
        if click is None:  # perfect already: the remaining clicks would change nothing
            break
        (x, y), label = click
        prompts.points.append((x, y))
        prompts.labels.append(label)
        if use_previous_mask and pred is not None:
            prompts.mask = pred
        t0 = time.perf_counter()
        result = engine.segment(embedding, prompts)
        trace.ms.append((time.perf_counter() - t0) * 1000.0)
        pred = result.mask
        trace.ious.append(mask_iou(pred, gt))
        if stop_iou is not None and trace.ious[-1] >= stop_iou:
            break
    return trace

"""GrabCut (OpenCV) from the same prompts: the classical baseline the default engine must beat.

How prompts become GrabCut's trimap (everything else starts as "probably background"):

* a box: outside it is definite background, inside probable foreground;
* positive / negative clicks: disks of ``CLICK_RADIUS`` px of definite foreground / background;
* with clicks and no box, a disk of ``PRIOR_RADIUS_FRACTION`` x the short image side around
  each positive click is probable foreground, so both colour models have samples;
* a previous mask: probable foreground where it is set.

GrabCut works on the image scaled so its long side is at most ``MAX_SIDE`` px, and only inside
a region of interest around the prompts (its run time grows with the pixel count); outside it
is background. The mask is scaled back with nearest-neighbour interpolation.
"""

from __future__ import annotations

import cv2
import numpy as np

from ml.prompt.engine import (
    Embedding,
    EngineBase,
    Prompts,
    SegmentResult,
    check_image,
    point_disks,
    result_score,
    validate_prompts,
)

CLICK_RADIUS = 5
PRIOR_RADIUS_FRACTION = 0.15
MAX_SIDE = 512
ITERATIONS = 5
ROI_PAD = 0.25


class GrabCutEngine(EngineBase):
    """OpenCV GrabCut driven by clicks, a box and/or a previous mask."""

    engine_id = "grabcut-opencv-v1"

    def embed(self, image: np.ndarray) -> Embedding:
        """GrabCut has no learned features: the "embedding" is the working-size image."""
        image = check_image(image)
        h, w = image.shape[:2]
        scale = min(1.0, MAX_SIDE / max(h, w))
        work = (
            image
            if scale == 1.0
            else cv2.resize(
                image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
            )
        )
        return Embedding(self.engine_id, (h, w), {"image": work}, {})

    def segment(self, embedding: Embedding, prompts: Prompts) -> SegmentResult:
        """Run ``ITERATIONS`` GrabCut rounds; GrabCut has no confidence: 1.0 (0.0 if empty), for a box its ``box_fit``."""
        self._check_embedding(embedding)
        h, w = embedding.image_size
        validate_prompts(prompts, w, h)
        work = np.clip(np.rint(embedding.arrays["image"]), 0, 255).astype(np.uint8)
        wh, ww = work.shape[:2]
        sx, sy = ww / w, wh / h

        def scaled(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
            return [(x * sx, y * sy) for x, y in points]

        trimap = np.full((wh, ww), cv2.GC_PR_BGD, dtype=np.uint8)
        if prompts.mask is not None:
            prev = cv2.resize(prompts.mask.astype(np.uint8), (ww, wh), interpolation=cv2.INTER_NEAREST)
            trimap[prev > 0] = cv2.GC_PR_FGD
        if prompts.box is not None:
            x0, y0, x1, y1 = prompts.box
            inside = np.zeros((wh, ww), dtype=bool)
            inside[int(y0 * sy) : int(np.ceil(y1 * sy)), int(x0 * sx) : int(np.ceil(x1 * sx))] = True
            trimap[~inside] = cv2.GC_BGD
            trimap[inside & (trimap == cv2.GC_PR_BGD)] = cv2.GC_PR_FGD
        elif prompts.positive_points:
            prior = point_disks(scaled(prompts.positive_points), wh, ww, PRIOR_RADIUS_FRACTION * min(wh, ww))
            trimap[prior & (trimap == cv2.GC_PR_BGD)] = cv2.GC_PR_FGD
        trimap[point_disks(scaled(prompts.positive_points), wh, ww, CLICK_RADIUS)] = cv2.GC_FGD
        trimap[point_disks(scaled(prompts.negative_points), wh, ww, CLICK_RADIUS)] = cv2.GC_BGD

        fg = np.zeros((wh, ww), dtype=bool)
        r0, r1, c0, c1 = _region_of_interest(trimap, scaled(prompts.negative_points))
        crop = trimap[r0:r1, c0:c1].copy()
        has_fg = np.isin(crop, (cv2.GC_FGD, cv2.GC_PR_FGD)).any()
        has_bg = np.isin(crop, (cv2.GC_BGD, cv2.GC_PR_BGD)).any()
        if has_fg and has_bg:
            bgd_model = np.zeros((1, 65), np.float64)
            fgd_model = np.zeros((1, 65), np.float64)
            bgr = cv2.cvtColor(np.ascontiguousarray(work[r0:r1, c0:c1]), cv2.COLOR_RGB2BGR)
            cv2.grabCut(bgr, crop, (0, 0, 0, 0), bgd_model, fgd_model, ITERATIONS, cv2.GC_INIT_WITH_MASK)
        fg[r0:r1, c0:c1] = np.isin(crop, (cv2.GC_FGD, cv2.GC_PR_FGD))
        mask = cv2.resize(fg.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        return SegmentResult(
            mask=mask, score=result_score(float(fg.any()), mask, prompts), engine_id=self.engine_id
        )


def _region_of_interest(trimap: np.ndarray, negative: list[tuple[float, float]]) -> tuple[int, int, int, int]:
    """Rows/cols (r0, r1, c0, c1) around the foreground prior and the negative clicks, padded by
    ``ROI_PAD`` of its size (+16 px) so GrabCut sees a ring of background; outside is background."""
    h, w = trimap.shape
    focus = np.isin(trimap, (cv2.GC_FGD, cv2.GC_PR_FGD))
    ys, xs = np.nonzero(focus)
    if len(xs) == 0:
        return 0, h, 0, w
    x_lo, x_hi, y_lo, y_hi = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    for x, y in negative:
        x_lo, x_hi = min(x_lo, int(x)), max(x_hi, int(x) + 1)
        y_lo, y_hi = min(y_lo, int(y)), max(y_hi, int(y) + 1)
    pad_x = int(ROI_PAD * (x_hi - x_lo)) + 16
    pad_y = int(ROI_PAD * (y_hi - y_lo)) + 16
    return max(0, y_lo - pad_y), min(h, y_hi + pad_y), max(0, x_lo - pad_x), min(w, x_hi + pad_x)

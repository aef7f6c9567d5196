"""GrabCut (OpenCV) from the same prompts: the classical baseline the default engine must beat.

How prompts become GrabCut's trimap (everything else starts as "probably background"):

* a box: outside it is definite background, inside probable foreground;
* positive / negative clicks: disks of ``CLICK_RADIUS`` px of definite foreground / background;
* with clicks and no box, a disk of ``PRIOR_RADIUS_FRACTION`` x the short image side around
  each positive click is probable foreground, so both colour models have samples;
* a previous mask: probable foreground where it is set.

GrabCut works on the image scaled so its long side is at most ``MAX_SIDE`` px (its run time
grows with the pixel count); the mask is scaled back with nearest-neighbour interpolation.
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
    validate_prompts,
)

CLICK_RADIUS = 5
PRIOR_RADIUS_FRACTION = 0.15
MAX_SIDE = 512
ITERATIONS = 5


class GrabCutEngine(EngineBase):
    """OpenCV GrabCut driven by clicks, a box and/or a previous mask."""

    engine_id = "grabcut-opencv-v1"

    def embed(self, image: np.ndarray) -> Embedding:
        """GrabCut has no learned features: the "embedding" is the working-size image."""
        image = check_image(image)
        h, w = image.shape[:2]
        scale = min(1.0, MAX_SIDE / max(h, w))
        work = image if scale == 1.0 else cv2.resize(
            image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        return Embedding(self.engine_id, (h, w), {"image": work}, {})

    def segment(self, embedding: Embedding, prompts: Prompts) -> SegmentResult:
        """Run ``ITERATIONS`` GrabCut rounds; GrabCut has no confidence, so score is 1.0 (0.0 if empty)."""
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

        has_fg = np.isin(trimap, (cv2.GC_FGD, cv2.GC_PR_FGD)).any()
        has_bg = np.isin(trimap, (cv2.GC_BGD, cv2.GC_PR_BGD)).any()
        if has_fg and has_bg:
            bgd_model = np.zeros((1, 65), np.float64)
            fgd_model = np.zeros((1, 65), np.float64)
            cv2.grabCut(cv2.cvtColor(work, cv2.COLOR_RGB2BGR), trimap, None, bgd_model, fgd_model,
                        ITERATIONS, cv2.GC_INIT_WITH_MASK)
        fg = np.isin(trimap, (cv2.GC_FGD, cv2.GC_PR_FGD))
        mask = cv2.resize(fg.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        return SegmentResult(mask=mask, score=float(fg.any()), engine_id=self.engine_id)

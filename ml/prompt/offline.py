"""The offline engine: seeded-watershed candidates picked by a learned scorer (no SAM weights).

Used where no official SAM checkpoint is available; why it is not a self-trained SAM is in
``ml/prompt/README.md``. Per ``segment`` call:

1. Seeds. Positive clicks (disks), the deep interior of a previous mask, the centre of a box
   (only without other foreground seeds) -> foreground. Negative clicks, everything outside a
   box, pixels well outside a previous mask -> background.
2. Automatic background seeds: pixels whose Lab colour is far from the colours at the
   positive clicks *and* that a gradient-tolerant flood fill from the clicks cannot reach
   (a shaded face stays one region), minus thin structures (barcode bars, creases).
3. ``cv2.watershed`` floods from both seed sets; they meet on the strongest edges. Parts
   without a foreground seed are dropped, enclosed holes filled (labels, tape), and a mask
   enclosed by one uniform object-sized region grows to it (a click on a label -> the box).
4. Clicks-only prompts make one candidate per :data:`VARIANTS` entry; the scorer
   (``offline_scorer.py``) predicts each one's IoU and the best is returned with that score.
   Box / previous-mask prompts use the default variant and an edge-contrast score; a box
   prompt's score is also capped by how well the mask fills the box (``engine.box_fit``).

Work happens at ``MAX_SIDE`` px on the long side; the mask is scaled back to the image.
"""

from __future__ import annotations

from pathlib import Path

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
from ml.prompt.offline_scorer import CandidateScorer, Variant, candidate_features

MAX_SIDE = 1024
CLICK_RADIUS = 3  # px at working scale
COLOR_FAR = 22.0  # Lab distance (OpenCV 8-bit Lab units) above which a pixel is "another colour"
FLOOD_STEP = 4  # per-channel tolerance between neighbouring pixels for the flood fill
PREVIOUS_MASK_CORE = 0.4  # seeds this fraction of the inscribed radius inside/outside a previous mask
THIN_STRUCTURE_PX = 3  # automatic background seeds thinner than ~2x this are dropped
ENCLOSING_LEVELS = 2  # bar -> label -> box
MAX_ENCLOSING_SHARE = 0.2  # an enclosing region larger than this share of the image is floor
SAME_COLOUR = 7.0  # Lab distance under which two sampled colours count as one
WIDE_SAMPLE_FRACTION = 0.02  # "wide" variants also sample colours this far (x long side) from a click
BG, FG = 1, 2


VARIANTS = (
    Variant(COLOR_FAR, False, True),  # the default, used alone for box / previous-mask prompts
    Variant(14.0, False, True),
    Variant(34.0, False, True),
    Variant(COLOR_FAR, True, True),
    Variant(COLOR_FAR, False, False),
)
DEFAULT_SCORER = Path(__file__).resolve().parents[1] / "checkpoints" / "prompt_offline_scorer.npz"


class OfflineEngine(EngineBase):
    """Seeded watershed prompt engine; deterministic, CPU-only, ~10 ms per click at 512 px."""

    def __init__(self, scorer_path: str | Path | None = DEFAULT_SCORER) -> None:
        self.scorer = (
            CandidateScorer.load(scorer_path) if scorer_path and Path(scorer_path).is_file() else None
        )
        self.engine_id = "offline-watershed-v2" + (f"-{self.scorer.weights_id}" if self.scorer else "")
        self._cache_key: Embedding | None = None  # the object itself: ids are reused after free
        self._cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def embed(self, image: np.ndarray) -> Embedding:
        """Edge-preserving smoothing at working scale; stored image is exact in float16."""
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
        smooth = cv2.bilateralFilter(work, d=5, sigmaColor=20, sigmaSpace=3)
        return Embedding(self.engine_id, (h, w), {"image": smooth}, {})

    def _working_images(self, embedding: Embedding) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(BGR uint8, Lab float32, Lab gradient magnitude) at working scale, cached for the
        last embedding used (an annotator clicks many times on one image)."""
        if self._cache_key is not embedding or self._cache is None:
            rgb = np.clip(np.rint(embedding.arrays["image"]), 0, 255).astype(np.uint8)
            bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
            lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
            gx = cv2.Sobel(lab, cv2.CV_32F, 1, 0, ksize=3)
            gy = cv2.Sobel(lab, cv2.CV_32F, 0, 1, ksize=3)
            grad = cv2.transform(cv2.multiply(gx, gx) + cv2.multiply(gy, gy), np.ones((1, 3), np.float32))
            grad = np.sqrt(grad) / 4.0  # Sobel weights sum to 4: back to Lab units per pixel
            self._cache_key, self._cache = embedding, (bgr, lab, grad)
        return self._cache

    def candidates(
        self, embedding: Embedding, prompts: Prompts, *, all_variants: bool = True
    ) -> list[tuple[Variant, np.ndarray]]:
        """Masks at working scale for each variant worth trying for these prompts (only the
        default variant for box / previous-mask prompts or when ``all_variants`` is off)."""
        self._check_embedding(embedding)
        h, w = embedding.image_size
        validate_prompts(prompts, w, h)
        bgr, lab, _ = self._working_images(embedding)
        wh, ww = bgr.shape[:2]
        sx, sy = ww / w, wh / h
        pos = [(x * sx, y * sy) for x, y in prompts.positive_points]
        neg = [(x * sx, y * sy) for x, y in prompts.negative_points]
        fg_seed, bg_seed, neg_seed = _prompt_seeds(prompts, pos, neg, sx, sy, wh, ww)
        clicks_only = bool(pos) and prompts.box is None and prompts.mask is None
        variants = VARIANTS if clicks_only and all_variants else VARIANTS[:1]
        unreached = _unreached(bgr, pos)
        distances: dict[bool, np.ndarray] = {}
        floods: dict[bytes, np.ndarray] = {}  # variants often give the same seeds: flood once
        out = []
        for variant in variants:
            if variant.wide not in distances:
                distances[variant.wide] = _colour_distance(lab, _colour_samples(pos, wh, ww, variant.wide))
            auto = (
                _auto_background(distances[variant.wide], unreached, variant.colour_far)
                if pos
                else np.zeros((wh, ww), dtype=bool)
            )
            key = np.packbits(auto).tobytes()
            if key not in floods:
                floods[key] = _flood(bgr, pos, fg_seed, bg_seed | auto, neg_seed)
            mask = floods[key]
            if clicks_only and variant.expand:
                mask = _expand_enclosed(mask, bgr, lab, neg_seed)
            out.append((variant, mask))
        return out

    def segment(self, embedding: Embedding, prompts: Prompts) -> SegmentResult:
        """One mask from the prompts; ``score`` is the scorer's predicted IoU (edge contrast
        along the boundary when only one candidate was made), capped by ``box_fit`` for a box."""
        cands = self.candidates(embedding, prompts, all_variants=self.scorer is not None)
        _, lab, grad = self._working_images(embedding)
        if len(cands) == 1 or self.scorer is None:
            mask_small = cands[0][1]
            score = _edge_score(grad, mask_small)
        else:
            h, w = embedding.image_size
            feats = candidate_features(cands, lab, grad, prompts, (lab.shape[1] / w, lab.shape[0] / h))
            predicted = self.scorer.predict(feats)
            best = int(np.argmax(predicted))
            mask_small, score = cands[best][1], float(np.clip(predicted[best], 0.0, 1.0))
        h, w = embedding.image_size
        mask = cv2.resize(mask_small.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        return SegmentResult(mask=mask, score=result_score(score, mask, prompts), engine_id=self.engine_id)


def _prompt_seeds(
    prompts: Prompts,
    pos: list[tuple[float, float]],
    neg: list[tuple[float, float]],
    sx: float,
    sy: float,
    wh: int,
    ww: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(foreground, background, negative-click) seed masks from the prompts themselves."""
    fg_seed = point_disks(pos, wh, ww, CLICK_RADIUS)
    neg_seed = point_disks(neg, wh, ww, CLICK_RADIUS)
    bg_seed = neg_seed.copy()
    if prompts.mask is not None:
        prev = cv2.resize(prompts.mask.astype(np.uint8), (ww, wh), interpolation=cv2.INTER_NEAREST)
        prev_fg, prev_bg = _previous_mask_seeds(prev, pos, neg)
        fg_seed |= prev_fg
        bg_seed |= prev_bg
    if prompts.box is not None:
        box_fg, box_bg = _box_seeds(prompts.box, sx, sy, wh, ww)
        bg_seed |= box_bg
        if not fg_seed.any():
            fg_seed |= box_fg
    return fg_seed, bg_seed, neg_seed


def _flood(
    bgr: np.ndarray,
    pos: list[tuple[float, float]],
    fg_seed: np.ndarray,
    bg_seed: np.ndarray,
    neg_seed: np.ndarray,
) -> np.ndarray:
    """Seeded watershed (clicks win over any other seed), then clean-up."""
    wh, ww = bgr.shape[:2]
    click_fg = point_disks(pos, wh, ww, CLICK_RADIUS)
    bg_seed = bg_seed & ~click_fg
    fg_seed = fg_seed & (~bg_seed | click_fg)
    if not bg_seed.any():
        return np.ones((wh, ww), dtype=bool)
    markers = np.zeros((wh, ww), dtype=np.int32)
    markers[bg_seed] = BG
    markers[fg_seed] = FG
    cv2.watershed(bgr, markers)
    mask = markers == FG
    # Watershed lines (-1) sit on the strongest edge pixel: give them to the foreground
    # when they touch it, which matches how COCO polygons cover boundary pixels.
    mask |= (markers == -1) & (cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    return _clean(mask, fg_seed, neg_seed)


def _previous_mask_seeds(
    prev: np.ndarray, pos: list[tuple[float, float]], neg: list[tuple[float, float]]
) -> tuple[np.ndarray, np.ndarray]:
    """Seeds from a previous mask that may be off by a few px: its deep interior is foreground,
    pixels far outside it background (both ``PREVIOUS_MASK_CORE`` x its inscribed radius away
    from its edge); seeds near opposite-label clicks are dropped."""
    wh, ww = prev.shape
    inner = cv2.distanceTransform(np.pad(prev, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    outer = cv2.distanceTransform(np.pad(1 - prev, 1, constant_values=1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    radius = float(inner.max())
    if radius <= 0:
        return np.zeros_like(prev, bool), np.zeros_like(prev, bool)
    margin = max(2.0, PREVIOUS_MASK_CORE * radius)
    fg, bg = inner >= margin, outer >= margin
    clear = max(8.0, radius)
    if neg:
        fg &= ~point_disks(neg, wh, ww, clear)
    if pos:
        bg &= ~point_disks(pos, wh, ww, clear)
    return fg, bg


def _box_seeds(
    box: tuple[float, float, float, float], sx: float, sy: float, wh: int, ww: int
) -> tuple[np.ndarray, np.ndarray]:
    """(foreground: central ellipse of the box, background: everything outside the box)."""
    x0, y0, x1, y1 = box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy
    inside = np.zeros((wh, ww), dtype=np.uint8)
    inside[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))] = 1
    centre = np.zeros((wh, ww), dtype=np.uint8)
    axes = (max(1, int((x1 - x0) / 6)), max(1, int((y1 - y0) / 6)))
    cv2.ellipse(centre, (int((x0 + x1) / 2), int((y0 + y1) / 2)), axes, 0, 0, 360, 1, -1)
    return centre > 0, inside == 0


def _colour_samples(
    pos: list[tuple[float, float]], wh: int, ww: int, wide: bool
) -> list[tuple[float, float]]:
    """Where to read "object colours": the clicks, and for ``wide`` a ring of 8 around the
    newest one (ringing every click would make the colour map cost grow with the clicks)."""
    samples = list(pos)
    if wide and pos:  # tape / label edges next to the click belong to the object too
        r = max(6.0, WIDE_SAMPLE_FRACTION * max(wh, ww))
        x, y = pos[-1]
        samples += [
            (x + r * np.cos(a), y + r * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 8, endpoint=False)
        ]
    return samples


def _colour_distance(lab: np.ndarray, samples: list[tuple[float, float]]) -> np.ndarray:
    """Squared Lab distance of every pixel to the nearest sampled colour (5x5 median each)."""
    wh, ww = lab.shape[:2]
    colours: list[np.ndarray] = []
    for x, y in samples:
        c, r = int(np.clip(x, 0, ww - 1)), int(np.clip(y, 0, wh - 1))
        colour = np.median(lab[max(r - 2, 0) : r + 3, max(c - 2, 0) : c + 3].reshape(-1, 3), axis=0)
        if all(np.linalg.norm(colour - other) > SAME_COLOUR for other in colours):
            colours.append(colour)
    best = np.full((wh, ww), np.inf, dtype=np.float32)
    ones = np.ones((1, 3), np.float32)
    for colour in colours:
        diff = cv2.absdiff(lab, (*colour.tolist(), 0.0))  # type: ignore[call-overload]  # cv2 scalar
        best = np.minimum(best, cv2.transform(cv2.multiply(diff, diff), ones))
    return best


def _unreached(bgr: np.ndarray, pos: list[tuple[float, float]]) -> np.ndarray:
    """Pixels a gradient-tolerant flood fill (``FLOOD_STEP`` per step) from the clicks misses."""
    wh, ww = bgr.shape[:2]
    reached = np.zeros((wh + 2, ww + 2), dtype=np.uint8)
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | (1 << 8)
    step = (FLOOD_STEP,) * 3
    for x, y in pos:
        seed = (min(int(x), ww - 1), min(int(y), wh - 1))
        if not reached[seed[1] + 1, seed[0] + 1]:
            cv2.floodFill(bgr, reached, seed, 0, step, step, flags)
    return reached[1:-1, 1:-1] == 0


def _auto_background(distance: np.ndarray, unreached: np.ndarray, colour_far: float) -> np.ndarray:
    """Automatic background seeds: clearly other colours that the flood from the clicks misses."""
    auto = ((distance > colour_far**2) & unreached).astype(np.uint8)
    # Thin structures (barcode bars, flap creases, wrinkles) are printed on objects, not
    # other objects: drop them as seeds so the foreground can flood across them.
    k = 2 * THIN_STRUCTURE_PX + 1
    return cv2.morphologyEx(auto, cv2.MORPH_OPEN, np.ones((k, k), np.uint8)) > 0


def _expand_enclosed(mask: np.ndarray, bgr: np.ndarray, lab: np.ndarray, neg_seed: np.ndarray) -> np.ndarray:
    """Grow a mask that sits inside one uniform, object-sized region (a label on a box, a bar
    of a barcode on a label) to that region: parts printed on a package belong to it.

    The surrounding region is the gradient-tolerant flood from the ring just outside the
    mask; it is taken when it encloses the mask, holds no negative click, does not touch
    the image border and covers less than ``MAX_ENCLOSING_SHARE`` of the image.
    """
    wh, ww = mask.shape
    kernel = np.ones((5, 5), np.uint8)
    step = (FLOOD_STEP,) * 3
    for _ in range(ENCLOSING_LEVELS):
        ring = (cv2.dilate(mask.astype(np.uint8), kernel) > 0) & ~mask
        if not ring.any():
            break
        colours = lab[ring]
        median = np.median(colours, axis=0)
        near = np.linalg.norm(colours - median, axis=1) < COLOR_FAR
        if near.mean() < 0.8:
            break
        ys, xs = np.nonzero(ring)
        pick = int(np.argmin(np.linalg.norm(colours - median, axis=1)))
        reached = np.zeros((wh + 2, ww + 2), dtype=np.uint8)
        cv2.floodFill(
            bgr,
            reached,
            (int(xs[pick]), int(ys[pick])),
            0,
            step,
            step,
            4 | cv2.FLOODFILL_MASK_ONLY | (1 << 8),
        )
        region = reached[1:-1, 1:-1] > 0
        touches_border = region[0].any() or region[-1].any() or region[:, 0].any() or region[:, -1].any()
        if (
            touches_border
            or region.sum() > MAX_ENCLOSING_SHARE * wh * ww
            or (region & neg_seed).any()
            or (ring & region).sum() < 0.8 * ring.sum()
        ):
            break
        mask = _fill_holes(mask | region, neg_seed)
    return mask


def _fill_holes(mask: np.ndarray, neg_seed: np.ndarray) -> np.ndarray:
    """Fill background pockets enclosed by the mask unless a negative click is inside."""
    holes = (~mask).astype(np.uint8)
    n, labels = cv2.connectedComponents(holes, connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    negative = np.unique(labels[neg_seed & ~mask])
    enclosed = np.setdiff1d(np.arange(1, n), np.union1d(border, negative))
    return mask | np.isin(labels, enclosed) if enclosed.size else mask


def _clean(mask: np.ndarray, fg_seed: np.ndarray, neg_seed: np.ndarray) -> np.ndarray:
    """Keep parts touching a foreground seed; fill enclosed holes without a negative click."""
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if n > 2:
        keep = np.unique(labels[fg_seed & mask])
        mask = np.isin(labels, keep[keep > 0])
    return _fill_holes(mask, neg_seed)


def _edge_score(grad: np.ndarray, mask: np.ndarray) -> float:
    """Confidence in [0, 1]: mean Lab gradient on the mask boundary, saturating at 40 units."""
    if not mask.any() or mask.all():
        return 0.0
    m = mask.astype(np.uint8)
    edge = cv2.morphologyEx(m, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    return float(np.clip(grad[edge].mean() / 40.0, 0.0, 1.0))

"""Turning the network's dense maps into instances (masks, categories, scores).

Grouping, in three steps:

1. **Seeds.** Foreground pixels whose interior value exceeds their category's seed threshold
   form seeds (8-connected components). With ``split_seeds_by_class`` a seed holds one category
   only (the per-pixel argmax), so a loose item lying on a box starts a seed of its own.
   ``class_seed_thresholds`` lets each category have its own threshold: small loose items
   never reach a high interior value at stride 2, while large parcels need a high one to keep
   touching neighbours apart.
2. **Growth down the interior map** (``growth_levels``, descending): at each level, seeds grow
   step by step into connected foreground pixels whose interior exceeds it, so a parcel claims
   its own slope before the valley between two parcels is reached (a marker watershed,
   discretised into levels).
3. **The rest** (the lowest band near borders) joins its nearest region (Euclidean distance,
   ``cv2.distanceTransformWithLabels``), within its own foreground blob: a blob that holds no
   seed is dropped rather than joined to a far-away instance, whose bounding box it would stretch
   (on real photos, stray foreground on an unlabelled carton or shelf did just that).

Touching look-alike parcels separate because their shared border has a low interior value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

_GROWTH_KERNEL = np.ones((3, 3), np.uint8)
_MAX_GROWTH_STEPS = 64  # per level; a band between two levels is a few pixels wide


@dataclass(frozen=True)
class GroupingParams:
    seed_threshold: float = 0.3  # interior value above which a pixel is a seed
    foreground_threshold: float = 0.5  # background probability below which a pixel is an object
    min_area_fraction: float = 0.0003  # drop instances smaller than this share of the image
    # Per-category seed thresholds (index k: category k + 1); empty = ``seed_threshold`` for all.
    class_seed_thresholds: tuple[float, ...] = ()
    split_seeds_by_class: bool = False  # a seed holds pixels of one (argmax) category only
    growth_levels: tuple[float, ...] = ()  # interior levels, descending, for the growth step
    # Per-category confidence a shape needs to be named that category (index k: category k + 1;
    # empty or 0 = none). A shape short of it takes the most likely category that needs none. Real
    # photos label only cartons, so mailers, bags and envelopes are named only when the model is sure.
    category_confidence: tuple[float, ...] = ()
    # With a centre head (ml.universal.centers): the heatmap probability a centre needs to start an instance,
    center_threshold: float = 0.05
    # the box IoU at which a centre's box confirms an interior-seeded instance (which then keeps its mask;
    # 0.5: a centre's box is coarse, 83 % of synthetic val instances had one at IoU 0.5 and 43 % at 0.7),
    center_agreement: float = 0.5
    # and the factor on the score of an interior-seeded instance that no centre confirms (0: dropped),
    unconfirmed_weight: float = 0.5
    # and the share of its box a mask grown from a centre must cover, or the box itself stands in (0: never).
    # On real photos the maps often miss a printed carton that the centres find: its box is the better shape.
    box_fallback: float = 0.0
    # and how much a confirmed instance's own score adds to its centre's: 1 - (1 - centre) x (1 - this x own)
    # (1: a noisy-or of the two; 0: the centre's score alone, which ranked real val captures better, 2026-12-07).
    seed_evidence: float = 1.0

    def __post_init__(self) -> None:
        # Checkpoint metadata may hold lists; the dataclass is frozen and hashable with tuples.
        object.__setattr__(self, "class_seed_thresholds", tuple(float(t) for t in self.class_seed_thresholds))
        object.__setattr__(
            self, "growth_levels", tuple(sorted((float(v) for v in self.growth_levels), reverse=True))
        )
        object.__setattr__(self, "category_confidence", tuple(float(t) for t in self.category_confidence))

    def category(self, mean_probs: np.ndarray) -> int:
        """Index (0..C - 1) of the category a shape with these mean class probabilities is named."""
        best = int(np.argmax(mean_probs))
        needed = self.category_confidence
        if not needed or mean_probs[best] >= needed[best]:
            return best
        free = [k for k in range(len(mean_probs)) if k >= len(needed) or needed[k] <= 0]
        return max(free, key=lambda k: mean_probs[k]) if free else best

    def thresholds(self, n_classes: int) -> np.ndarray:
        """Seed threshold per class index 0..n_classes (index 0, background, is never a seed)."""
        per_class = list(self.class_seed_thresholds) or [self.seed_threshold] * n_classes
        if len(per_class) != n_classes:
            raise ValueError(f"class_seed_thresholds has {len(per_class)} values for {n_classes} categories")
        return np.array([np.inf, *per_class], dtype=np.float32)


@dataclass
class RawInstance:
    mask: np.ndarray  # bool (H, W)
    class_index: int  # 1..C
    score: float
    # The evidence behind ``score`` (``ml.universal.rescore`` weighs it): how the instance arose (ORIGINS),
    # the score of the centre that confirmed or grew it (0: none), and its interior seed's own score (0: none).
    origin: str = "seeded"
    centre: float = 0.0
    seeded: float = 0.0


# An instance's origin: an interior seed no centre confirmed; one a centre confirmed by box, or by the mask it
# grew; a mask grown from a centre alone (``ml.universal.centers.group_with_centers``).
ORIGINS = ("seeded", "confirmed_by_box", "confirmed_by_mask", "grown")


def find_seeds(
    probs: np.ndarray, interior: np.ndarray, foreground: np.ndarray, params: GroupingParams
) -> tuple[int, np.ndarray]:
    """(n, labels): seed components 1..n - 1 of ``foreground`` pixels above their category's threshold."""
    by_category = params.split_seeds_by_class or bool(params.class_seed_thresholds)
    if not by_category:  # one threshold, one component per blob: the per-pixel category is not needed
        seeds = (interior > params.seed_threshold) & foreground
        return cv2.connectedComponents(seeds.astype(np.uint8), connectivity=8)
    category = np.argmax(probs[1:], axis=0) + 1
    seeds = (interior > params.thresholds(probs.shape[0] - 1)[category]) & foreground
    if not params.split_seeds_by_class:
        return cv2.connectedComponents(seeds.astype(np.uint8), connectivity=8)
    labels = np.zeros(interior.shape, dtype=np.int32)
    n = 1
    for c in range(1, probs.shape[0]):
        k, comp = cv2.connectedComponents((seeds & (category == c)).astype(np.uint8), connectivity=8)
        labels[comp > 0] = comp[comp > 0] + (n - 1)
        n += k - 1
    return n, labels


def grow_down(
    labels: np.ndarray, interior: np.ndarray, foreground: np.ndarray, levels: tuple[float, ...]
) -> np.ndarray:
    """Grow labelled regions level by level into unlabelled foreground above each interior level."""
    # uint16 labels while they fit: cv2.dilate is fastest on them and no per-step conversions are
    # needed (a third of the time of int32 via float32 on a 1 MP map with 200 seeds, same labels).
    fits = labels.size == 0 or int(labels.max()) < np.iinfo(np.uint16).max
    grown: np.ndarray[Any, np.dtype[np.uint16 | np.float32]] = labels.astype(
        np.uint16 if fits else np.float32
    )
    for level in levels:
        free = foreground & (interior > level) & (grown == 0)  # unlabelled pixels this level may take
        for _ in range(_MAX_GROWTH_STEPS):
            # The neighbour with the largest label wins a contested pixel; ties are rare and local.
            neighbour = cv2.dilate(grown, _GROWTH_KERNEL)
            new = free & (neighbour > 0)
            if not new.any():
                break
            np.copyto(grown, neighbour, where=new)
            free &= ~new
    return grown.astype(np.int32)


def nearest_region(labels: np.ndarray) -> np.ndarray:
    """For every pixel, the label of the nearest labelled pixel (labels > 0)."""
    labelled = labels > 0
    # Per pixel, not per connected component: grown regions touch, and a component would span several.
    _, nearest = cv2.distanceTransformWithLabels(
        (~labelled).astype(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
    )
    lookup = np.zeros(int(nearest.max()) + 1, dtype=np.int32)
    lookup[nearest[labelled]] = labels[labelled]
    return lookup[nearest]


def seeded_foreground(foreground: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The foreground pixels whose 8-connected foreground blob holds a seed pixel (``seeds`` > 0)."""
    n, blobs = cv2.connectedComponents(foreground.astype(np.uint8), connectivity=8)
    seeded = np.zeros(n, dtype=bool)
    seeded[np.unique(blobs[seeds > 0])] = True
    seeded[0] = False
    return seeded[blobs]


def group_instances(probs: np.ndarray, interior: np.ndarray, params: GroupingParams) -> list[RawInstance]:
    """Instances from class probabilities (C + 1, H, W) and interior values (H, W), both in [0, 1].

    score = mean over the mask of p(category) x mean over the seed of the interior value, so
    a confident, well-centred parcel scores near 1 and a spurious fragment near 0.
    """
    height, width = interior.shape
    foreground = probs[0] < params.foreground_threshold
    n, comp = find_seeds(probs, interior, foreground, params)
    if n <= 1:
        return []
    regions = grow_down(comp, interior, foreground, params.growth_levels) if params.growth_levels else comp
    inst = np.where(seeded_foreground(foreground, comp), nearest_region(regions), 0).ravel()
    areas = np.bincount(inst, minlength=n)
    class_sums = np.stack([np.bincount(inst, weights=p.ravel(), minlength=n) for p in probs])  # (C+1, n)
    seed_flat = comp.ravel()
    seed_interior = np.bincount(seed_flat, weights=interior.ravel(), minlength=n) / np.maximum(
        np.bincount(seed_flat, minlength=n), 1
    )
    min_area = params.min_area_fraction * height * width
    out = []
    labels = inst.reshape(height, width)
    for k in range(1, n):
        if areas[k] < min_area:
            continue
        mean_probs = class_sums[1:, k] / areas[k]
        score = float(mean_probs.max() * seed_interior[k])  # how sure it is a package, whatever it is named
        cls = params.category(mean_probs)
        out.append(RawInstance(mask=labels == k, class_index=cls + 1, score=score, seeded=score))
    return out


def image_uncertainty(probs: np.ndarray, interior: np.ndarray, scores: list[float]) -> float:
    """Active-learning score in [0, 1]; higher means labelling this image teaches the model more.

    ``probs`` are class probabilities (C + 1, h, w) and ``interior`` the interior values (h, w),
    at any one resolution (the predictor passes the network's stride-2 output, which is cheaper
    and equivalent on average).

    U = (B + H + I + (1 - S)) / 4, one term per decision the model makes:

    * B, *is it an object*: mean over all pixels of 1 - |1 - 2 p(background)|;
    * H, *which category*: mean normalised entropy (entropy / log(C + 1)) of the per-pixel class
      distribution over pixels with p(background) < 0.9 (the whole image when there are none);
    * I, *where does one object end*: mean of 1 - |1 - 2 interior| over foreground pixels
      (p(background) < 0.5; 0 when there are none);
    * S, *how sure the grouped instances are*: the mean instance score (0 when nothing was found).

    H and S alone miss images the model reads as confident background (a dim scene it was never
    shown). On the pool of ``ml.experiments.active.simulate``'s new site, the shipped base's rank correlation
    with per-image error (1 - mean IoU of each true parcel with its best same-category
    prediction) was 0.27 for (H + 1 - S) / 2, with none of the night scenes among the 30 % most
    uncertain, and 0.77 for U, with 75 % night scenes there; after fine-tuning on 20 labelled
    images the two were 0.71 and 0.66.
    """
    eps = 1e-8
    background = probs[0]
    objectness = float((1.0 - np.abs(1.0 - 2.0 * background)).mean())
    entropy = -(probs * np.log(probs + eps)).sum(axis=0) / np.log(probs.shape[0])
    objectish = background < 0.9
    mean_entropy = float(entropy[objectish].mean()) if objectish.any() else float(entropy.mean())
    foreground = background < 0.5
    split = float((1.0 - np.abs(1.0 - 2.0 * interior[foreground])).mean()) if foreground.any() else 0.0
    mean_score = float(np.mean(scores)) if scores else 0.0
    return float(np.clip((objectness + mean_entropy + split + 1.0 - mean_score) / 4.0, 0.0, 1.0))

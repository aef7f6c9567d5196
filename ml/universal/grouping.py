"""Turning the network's dense maps into instances (masks, categories, scores).

Grouping: pixels whose interior value exceeds ``seed_threshold`` form seeds (connected
components); every foreground pixel then joins its nearest seed (Euclidean distance,
``cv2.distanceTransformWithLabels``). Touching look-alike parcels separate because their
shared border has a low interior value.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class GroupingParams:
    seed_threshold: float = 0.3  # interior value above which a pixel is a seed
    foreground_threshold: float = 0.5  # background probability below which a pixel is an object
    min_area_fraction: float = 0.0003  # drop instances smaller than this share of the image


@dataclass
class RawInstance:
    mask: np.ndarray  # bool (H, W)
    class_index: int  # 1..C
    score: float


def group_instances(probs: np.ndarray, interior: np.ndarray, params: GroupingParams) -> list[RawInstance]:
    """Instances from class probabilities (C + 1, H, W) and interior values (H, W), both in [0, 1].

    score = mean over the mask of p(category) x mean over the seed of the interior value, so
    a confident, well-centred parcel scores near 1 and a spurious fragment near 0.
    """
    height, width = interior.shape
    foreground = probs[0] < params.foreground_threshold
    seeds = ((interior > params.seed_threshold) & foreground).astype(np.uint8)
    n, comp = cv2.connectedComponents(seeds, connectivity=8)
    if n <= 1:
        return []
    # Each seed pixel is a zero of ``src``; labels of the nearest zero pixel = nearest seed.
    src = (1 - seeds).astype(np.uint8)
    _, nearest = cv2.distanceTransformWithLabels(src, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_CCOMP)
    lookup = np.zeros(int(nearest.max()) + 1, dtype=np.int32)
    lookup[nearest[seeds > 0]] = comp[seeds > 0]
    inst = np.where(foreground, lookup[nearest], 0).ravel()
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
        cls = int(np.argmax(mean_probs))
        score = float(mean_probs[cls] * seed_interior[k])
        out.append(RawInstance(mask=labels == k, class_index=cls + 1, score=score))
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
    shown). On the pool of ``ml.active.simulate``'s new site, the shipped base's rank correlation
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

"""Instances from package centres: a CenterNet-style head beside the semantic and interior maps.

Why: on the real val captures the eighth file's foreground map covers 99.7 % of the labelled cartons'
cores, yet its box AP50 is 0.16. Its instances come from seeds in the interior map, which merges
stacked cartons (their seams barely dip) and breaks large printed ones into fragments. Seeding the
same maps with one seed per labelled carton's centre lifted AP50 to 0.48 (the model card, "Centres").
So a head learns where package centres are and how large their boxes are (Zhou et al., 2019,
"Objects as Points"; elliptical Gaussians as in TTFNet, Liu et al., 2019), and
``group_from_centers`` grows one instance from each centre through the foreground, bounded by its box.

* Training: ``center_loss`` on the stride-2 boxes every sample carries (``data``: box labels on real
  photos, each instance mask's bounding box on synthetic scenes).
* Inference: ``decode_boxes`` finds the heatmap's peaks and their boxes; ``group_from_centers`` turns
  them into masks. A checkpoint whose architecture has no centre head groups as before.
* ``python -m ml.universal.centers IN --out OUT`` gives a checkpoint the head (new, untrained weights).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import cv2
import numpy as np
import torch

from ml import geometry
from ml.universal.checkpoint import load_checkpoint, save_checkpoint
from ml.universal.grouping import (
    GroupingParams,
    RawInstance,
    group_instances,
    grow_down,
    nearest_region,
    seeded_foreground,
)
from ml.universal.model import CENTER_VARIANTS, MODELS, CenterTower, build_model, has_center_head

SIGMA_FRACTION = 0.54 / 6  # Gaussian sigma per box side (TTFNet's alpha 0.54 over its 6-sigma span)
FOCAL_ALPHA, FOCAL_BETA = 2.0, 4.0  # CenterNet's penalty-reduced focal loss
CENTER_WEIGHT = 1.0
SIZE_WEIGHT = 0.5  # L1 of log sizes; 0.5 so that a box 65 % too large costs as much as a missed centre's step
SIZE_MIN_HEAT = 0.5  # sizes are learned where the centre target is at least this high
SEED_FRACTION = 0.3  # an instance's seed: the middle 30 % of its box (each side), within the foreground
BOX_SLACK = 0.15  # an instance's mask may reach this far (of its box's side) beyond its predicted box
MAX_PEAKS = 100


def center_targets(boxes: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre heatmap (N, h, w) in [0, 1] and log box sizes (N, 2, h, w) from stride-2 boxes.

    ``boxes``: int (N, K, 4) x0, y0, x1, y1 (end-exclusive), rows of -1 for no box. Each box puts an
    elliptical Gaussian at its centre (sigma ``SIGMA_FRACTION`` of each side, at least 0.5 px; peak 1
    at the pixel holding the centre); overlapping Gaussians keep the maximum, and each pixel's size
    target is the box whose Gaussian is highest there.
    """
    n = boxes.shape[0]
    heat = torch.zeros(n, height, width, device=boxes.device)
    size = torch.zeros(n, 2, height, width, device=boxes.device)
    valid = boxes[..., 2] > boxes[..., 0]
    if not bool(valid.any()):
        return heat, size
    b = boxes.float()
    w, h = (b[..., 2] - b[..., 0]).clamp(min=1.0), (b[..., 3] - b[..., 1]).clamp(min=1.0)
    cx, cy = torch.floor((b[..., 0] + b[..., 2]) / 2), torch.floor((b[..., 1] + b[..., 3]) / 2)
    sx, sy = (SIGMA_FRACTION * w).clamp(min=0.5), (SIGMA_FRACTION * h).clamp(min=0.5)
    xs = torch.arange(width, device=boxes.device, dtype=torch.float32)
    ys = torch.arange(height, device=boxes.device, dtype=torch.float32)
    gx = torch.exp(-((xs - cx[..., None]) ** 2) / (2 * sx[..., None] ** 2))  # (N, K, w)
    gy = torch.exp(-((ys - cy[..., None]) ** 2) / (2 * sy[..., None] ** 2))  # (N, K, h)
    gauss = gy[..., :, None] * gx[..., None, :] * valid[..., None, None]  # (N, K, h, w)
    heat, owner = gauss.max(dim=1)
    logs = torch.stack([w.log(), h.log()], dim=-1)  # (N, K, 2)
    size = torch.gather(logs, 1, owner.flatten(1)[..., None].expand(-1, -1, 2))  # (N, h*w, 2)
    return heat, size.permute(0, 2, 1).reshape(n, 2, height, width)


def center_loss(centers: torch.Tensor, boxes: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Penalty-reduced focal loss on the heatmap plus L1 on log sizes, for ``centers`` (N, 3, h, w).

    ``known`` (N, h, w) bool: pixels whose label is known (not ``targets.IGNORE`` in the semantic
    target); a centre pixel counts wherever it is. With partial labels a carton that nobody labelled
    is unknown, not background, so only the known pixels teach the head where no centre is. The
    focal term is normalised by the number of boxes (at least 1), the size term by its weights.
    """
    n, _, height, width = centers.shape
    heat, size = center_targets(boxes, height, width)
    prob = torch.sigmoid(centers[:, 0].float()).clamp(1e-4, 1 - 1e-4)
    peak = heat >= 1.0 - 1e-6  # the pixel holding a box's centre (exp(0) = 1)
    positive = -torch.log(prob) * (1 - prob) ** FOCAL_ALPHA * peak
    negative = -torch.log(1 - prob) * prob**FOCAL_ALPHA * (1 - heat) ** FOCAL_BETA * (known & ~peak)
    count = (boxes[..., 2] > boxes[..., 0]).sum().clamp(min=1)
    focal = (positive.sum() + negative.sum()) / count
    weight = heat * (heat >= SIZE_MIN_HEAT)
    l1 = (centers[:, 1:].float() - size).abs().sum(dim=1)
    size_term = (l1 * weight).sum() / weight.sum().clamp(min=1.0)
    return CENTER_WEIGHT * focal + SIZE_WEIGHT * size_term


def decode_boxes(
    centers: np.ndarray, threshold: float, max_peaks: int = MAX_PEAKS
) -> tuple[np.ndarray, np.ndarray]:
    """(boxes float (K, 4) x0, y0, x1, y1, scores (K,)) at the map's resolution from the head's output
    (3, h, w): heatmap probability, log width, log height. A peak is a pixel that is the maximum of
    its 3 x 3 neighbourhood (CenterNet's max-pool NMS) and scores at least ``threshold``; the best
    ``max_peaks``, best first."""
    heat = centers[0]
    local_max = cv2.dilate(heat, np.ones((3, 3), np.uint8))
    ys, xs = np.nonzero((heat >= local_max) & (heat >= threshold))
    scores = heat[ys, xs]
    order = np.argsort(-scores, kind="stable")[:max_peaks]
    ys, xs, scores = ys[order], xs[order], scores[order]
    w, h = np.exp(centers[1, ys, xs]), np.exp(centers[2, ys, xs])
    cx, cy = xs + 0.5, ys + 0.5
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
    return boxes.reshape(-1, 4), scores.astype(np.float32)


def seed_bounds(boxes: np.ndarray) -> np.ndarray:
    """(K, 4) x0, y0, x1, y1 of each box's seed: its middle ``SEED_FRACTION`` on each side."""
    margin = (1 - SEED_FRACTION) / 2 * np.concatenate([boxes[:, 2:] - boxes[:, :2]] * 2, axis=1)
    return boxes + margin * np.array([1, 1, -1, -1], np.float32)


def suppress_inner_peaks(boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``boxes`` and ``scores`` (best first) without each box whose centre lies in the seed (the middle
    ``SEED_FRACTION``) of a better box kept before it: a second peak inside a package would carve
    its own instance out of it. Stacked cartons' centres lie outside each other's seeds, so both stay.
    Measured on the first centre candidate: synthetic val mask AP 0.583 -> 0.610, real val captures box
    AP50 0.317 -> 0.324 (the model card, "Centres")."""
    keep: list[int] = []
    centres, seeds = (boxes[:, :2] + boxes[:, 2:]) / 2, seed_bounds(boxes)
    for k, (cx, cy) in enumerate(centres):
        if not any(seeds[j, 0] <= cx <= seeds[j, 2] and seeds[j, 1] <= cy <= seeds[j, 3] for j in keep):
            keep.append(k)
    return boxes[keep], scores[keep]


def group_from_centers(
    probs: np.ndarray,
    interior: np.ndarray,
    boxes: np.ndarray,
    scores: np.ndarray,
    params: GroupingParams,
    taken: np.ndarray | None = None,
) -> list[RawInstance]:
    """One instance per box (``boxes`` at the maps' resolution, best first), masks from the maps.

    Each box seeds the foreground in its middle ``SEED_FRACTION`` (its centre pixel where that holds
    no foreground); the seeds grow down the interior map (``grouping.grow_down``), the rest of each
    seeded foreground blob joins its nearest region, and a mask keeps only what lies within its box
    widened by ``BOX_SLACK``. Where two boxes' seeds overlap, the better-scored one keeps the pixel.
    score = the centre's heatmap probability; category as ``GroupingParams.category`` names it.
    A box whose centre lies in a better box's seed is dropped first (``suppress_inner_peaks``).
    ``taken`` (bool (H, W)): pixels that already belong to an instance, left out of the foreground.
    """
    boxes, scores = suppress_inner_peaks(np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores))
    height, width = interior.shape
    foreground = probs[0] < params.foreground_threshold
    if taken is not None:
        foreground &= ~taken
    seeds = np.zeros((height, width), dtype=np.int32)
    bounds = seed_bounds(boxes)
    for k in range(len(boxes) - 1, -1, -1):  # worst first, so the best paints last
        sx0, sy0 = (
            int(np.clip(np.floor(bounds[k, 0]), 0, width - 1)),
            int(np.clip(np.floor(bounds[k, 1]), 0, height - 1)),
        )
        sx1, sy1 = max(int(np.ceil(bounds[k, 2])), sx0 + 1), max(int(np.ceil(bounds[k, 3])), sy0 + 1)
        core = seeds[sy0:sy1, sx0:sx1]
        inside = foreground[sy0:sy1, sx0:sx1]
        if inside.any():
            core[inside] = k + 1
        else:
            x0, y0, x1, y1 = boxes[k]
            cy, cx = int(np.clip((y0 + y1) / 2, 0, height - 1)), int(np.clip((x0 + x1) / 2, 0, width - 1))
            seeds[cy, cx] = k + 1
    slack = BOX_SLACK * np.concatenate([boxes[:, 2:] - boxes[:, :2]] * 2, axis=1)
    widened = np.concatenate(
        [np.floor(boxes[:, :2] - slack[:, :2]), np.ceil(boxes[:, 2:] + slack[:, 2:])], axis=1
    )
    mask_of_all = foreground | (seeds > 0)
    regions = grow_down(seeds, interior, mask_of_all, params.growth_levels) if params.growth_levels else seeds
    labels = np.where(seeded_foreground(mask_of_all, seeds), nearest_region(regions), 0)
    min_area = params.min_area_fraction * height * width
    out = []
    for k in range(len(boxes)):
        x0, y0, x1, y1 = (int(v) for v in widened[k])
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        mask = np.zeros((height, width), dtype=bool)
        if x1 > x0 and y1 > y0:
            mask[y0:y1, x0:x1] = labels[y0:y1, x0:x1] == k + 1
        if params.box_fallback > 0 and _box_fill(mask, boxes[k]) < params.box_fallback:
            mask = _box_mask(boxes[k], height, width)
        area = int(mask.sum())
        if area == 0 or area < min_area:
            continue
        mean_probs = probs[1:, mask].mean(axis=1)
        out.append(
            RawInstance(
                mask=mask,
                class_index=params.category(mean_probs) + 1,
                score=float(scores[k]),
                origin="grown",
                centre=float(scores[k]),
            )
        )
    return out


def _box_fill(mask: np.ndarray, box: np.ndarray) -> float:
    """The share of ``box`` (x0, y0, x1, y1) that ``mask`` covers (0 for a box of no whole pixel)."""
    x0, y0, x1, y1 = _box_pixels(box, *mask.shape)
    inside = mask[y0:y1, x0:x1]
    return float(inside.sum()) / inside.size if inside.size else 0.0


def _box_mask(box: np.ndarray, height: int, width: int) -> np.ndarray:
    """The pixels of ``box`` (x0, y0, x1, y1, end-exclusive) within the image, as a mask."""
    mask = np.zeros((height, width), dtype=bool)
    x0, y0, x1, y1 = _box_pixels(box, height, width)
    mask[y0:y1, x0:x1] = True
    return mask


def _box_pixels(box: np.ndarray, height: int, width: int) -> tuple[int, int, int, int]:
    """``box`` (x0, y0, x1, y1) rounded to whole pixels and clipped to the image (possibly empty)."""
    x0, y0 = max(int(round(box[0])), 0), max(int(round(box[1])), 0)
    x1, y1 = min(int(round(box[2])), width), min(int(round(box[3])), height)
    return x0, y0, max(x1, x0), max(y1, y0)


def group_with_centers(
    probs: np.ndarray, interior: np.ndarray, boxes: np.ndarray, scores: np.ndarray, params: GroupingParams
) -> list[RawInstance]:
    """Instances from the interior map's seeds (``grouping.group_instances``), checked against the centres.

    Why both: grown from centres alone, the eighth file's maps scored synthetic val mask AP 0.742 even
    with the true boxes as centres, against 0.888 from its interior seeds: a box's middle often lies on
    the package in front of it, and cutting masks to boxes clips bags. The interior seeds' masks are
    right where they are one package; the centres say which are (measured in the model card, "Centres").

    * Best centre first (after ``suppress_inner_peaks``), a centre confirms the interior-seeded instance
      whose box overlaps its box most, at box IoU ``params.center_agreement`` or more: that instance
      keeps its mask, and its score joins the centre's as two pieces of evidence, 1 - (1 - centre) x
      (1 - ``params.seed_evidence`` x own) (1, a noisy-or: on the twelfth candidate it beat the centre's
      score alone on real val captures, 0.182 against 0.164 box AP50, the model card "Centres"; on the
      fourteenth file's longer-trained tower the centre's score alone ranks better, 0.302 against 0.273).
    * The centres that confirm none (stacked cartons merged into one interior seed, a printed carton
      broken into several) grow their own masks (``group_from_centers``) from the pixels no confirmed
      instance holds.
    * A grown mask that is an unconfirmed interior-seeded instance's (mask IoU ``params.center_agreement`` or
      more) confirms that instance after all: its box missed, its pixels did not.
    * An interior-seeded instance that no centre confirms keeps its mask at its own score times
      ``params.unconfirmed_weight`` (0: dropped).
    """
    boxes, scores = suppress_inner_peaks(np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores))
    seeded = group_instances(probs, interior, params)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    columns = geometry.greedy_matches(geometry.box_iou_matrix(xywh, _xywh(seeded)), params.center_agreement)
    confirmed = {k: int(j) for k, j in enumerate(columns) if j >= 0}  # centre -> interior-seeded instance
    out = [
        _confirmed(seeded[j], float(scores[k]), params.seed_evidence, "confirmed_by_box")
        for k, j in confirmed.items()
    ]
    taken = np.zeros(interior.shape, dtype=bool)
    for r in out:
        taken |= r.mask
    rest = [k for k in range(len(boxes)) if k not in confirmed]
    grown = group_from_centers(probs, interior, boxes[rest], scores[rest], params, taken=taken)
    unconfirmed = [r for j, r in enumerate(seeded) if j not in confirmed.values()]
    # A centre whose box missed a seeded instance's box can still grow that instance's pixels: that confirms
    # it too, or the two would be one package drawn twice (seen on a synthetic conveyor scene).
    ious = np.zeros((len(grown), len(unconfirmed)))
    for g, u in zip(*np.nonzero(geometry.box_iou_matrix(_xywh(grown), _xywh(unconfirmed)) > 0), strict=True):
        ious[g, u] = geometry.mask_iou(grown[g].mask, unconfirmed[u].mask)
    same = {g: int(u) for g, u in enumerate(geometry.greedy_matches(ious, params.center_agreement)) if u >= 0}
    out += [
        _confirmed(unconfirmed[u], grown[g].score, params.seed_evidence, "confirmed_by_mask")
        for g, u in same.items()
    ]
    out += [r for g, r in enumerate(grown) if g not in same]
    if params.unconfirmed_weight > 0:
        out += [
            dataclasses.replace(r, score=r.score * params.unconfirmed_weight)
            for u, r in enumerate(unconfirmed)
            if u not in same.values()
        ]
    return out


def _confirmed(seeded: RawInstance, center_score: float, seed_evidence: float, origin: str) -> RawInstance:
    """An interior-seeded instance that a centre confirms (``origin`` says how): its mask, scored
    1 - (1 - centre) x (1 - seed_evidence x own)."""
    score = 1.0 - (1.0 - center_score) * (1.0 - seed_evidence * seeded.score)
    return dataclasses.replace(seeded, score=score, origin=origin, centre=center_score)


def _xywh(instances: list[RawInstance]) -> np.ndarray:
    """(N, 4) x, y, width, height of each instance's mask."""
    return np.array([geometry.mask_bbox(r.mask) for r in instances], dtype=np.float64).reshape(-1, 4)


def add_center_head(path: str | Path, out: str | Path, variant: str = "centers") -> Path:
    """Write ``path``'s checkpoint with its architecture's centre-head variant (``model.CENTER_VARIANTS``:
    ``centers``, a block on the stride-2 features; ``center_branch``, a ``model.CenterBranch``;
    ``center_tower``, a ``model.CenterTower`` whose trunk starts as a copy of the base's): every weight it
    had is kept, the head starts untrained (``model.CENTER_PRIOR_LOGIT``), so the maps are unchanged."""
    model, meta = load_checkpoint(path)
    arch = str(meta["architecture"])
    if has_center_head(arch):
        raise ValueError(f"{path} already has a centre head ({arch})")
    if variant not in CENTER_VARIANTS:
        raise ValueError(f"unknown centre-head variant {variant!r}; choose from {list(CENTER_VARIANTS)}")
    if variant == "center_mobile":  # its trunk starts from pretrained weights, not from the base's
        raise ValueError("a MobileNetV2 tower needs its pretrained weights: python -m ml.universal.backbone")
    headed_arch = f"{arch}_{variant}"
    if headed_arch not in MODELS:
        raise ValueError(f"architecture {arch!r} has no {variant} variant; choose from {sorted(MODELS)}")
    torch.manual_seed(0)
    headed = build_model(headed_arch, num_classes=len(meta["categories"]))
    missing, unexpected = headed.load_state_dict(model.state_dict(), strict=False)
    assert not unexpected and all(key.startswith("centers.") for key in missing), (missing, unexpected)
    if isinstance(headed.centers, CenterTower):  # the tower's trunk starts as a copy of the base's
        missing, unexpected = headed.centers.net.load_state_dict(model.state_dict(), strict=False)
        assert not unexpected and all(key.startswith("centers.") for key in missing), (missing, unexpected)
    return save_checkpoint(out, headed, {**meta, "architecture": headed_arch})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Give a universal checkpoint a new, untrained centre head.")
    parser.add_argument("checkpoint", help="a checkpoint without one (unet_s, unet_m)")
    parser.add_argument("--out", required=True, help="where to write the checkpoint with the head")
    parser.add_argument("--variant", default="centers", choices=CENTER_VARIANTS)
    args = parser.parse_args(argv)
    print(add_center_head(args.checkpoint, args.out, args.variant))


if __name__ == "__main__":
    main()

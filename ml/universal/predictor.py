"""NumPy-in / NumPy-out inference with the universal model.

    predictor = UniversalPredictor.from_checkpoint("ml/checkpoints/universal_base.pt")
    result = predictor.predict(image)  # uint8 RGB (H, W, 3)
    for inst in result.instances: inst.mask, inst.category, inst.score, inst.shape

Shapes and masks are in the input image's pixels, x right / y down. The network sees the image
at ``meta["input_size"]``; its maps are upsampled to, and grouped at, a *working* resolution
whose long side is the image's own up to ``WORKING_LONG_SIDE`` (``meta["working_size"]``
overrides it). An image that size or smaller is grouped at its own resolution; a larger one
(a 12 MP phone photo) gets its shapes scaled back to its pixels, and a full-size mask only
when ``Instance.mask`` is read.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ml import geometry
from ml.universal import targets
from ml.universal.calibration import UNCALIBRATED_THRESHOLD, calibrated_score
from ml.universal.centers import decode_boxes, group_with_centers
from ml.universal.checkpoint import load_checkpoint
from ml.universal.grouping import GroupingParams, RawInstance, group_instances, image_uncertainty
from ml.universal.model import CenterTower, UniversalNet, fuse_for_inference
from ml.universal.rescoring import Rescorer

# Test-time mirror images: name -> (axes of an (H, W, 3) image, dims of a (C, h, w) map) to flip.
FLIPS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "x": ((1,), (-1,)),
    "y": ((0,), (-2,)),
    "xy": ((0, 1), (-2, -1)),
}


def parse_flips(text: str) -> tuple[str, ...]:
    """A command line's set of test-time flips ('none', 'x', 'x,y,xy') as names (none: empty); the predictor
    refuses unknown ones by name."""
    return tuple(f for f in text.split(",") if f and f != "none")


# Long side (px) of the resolution the maps are grouped at. The network's maps are stride 2 at a
# 448 px input, so 1024 px already resolves more than they hold; grouping at 12 MP took 10-19 s
# and broke parcels into bilinear-interpolation fragments that no finer map could justify.
WORKING_LONG_SIDE = 1024


def working_size(height: int, width: int, long_side: int = WORKING_LONG_SIDE) -> tuple[int, int]:
    """(h, w) of the working resolution for an (``height``, ``width``) image: the image's own when
    its long side is at most ``long_side``, else resized to that long side (aspect kept)."""
    scale = long_side / max(height, width)
    if scale >= 1.0:
        return height, width
    return max(1, round(height * scale)), max(1, round(width * scale))


def maps_at_image_size(
    logits: torch.Tensor, scale: float, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities (C + 1, H, W) and interior (H, W) at image resolution from the padded
    stride-2 logits (1, C + 2, h, w) of an image resized by ``scale`` (classes first, interior last)."""
    # Upsample the whole padded map so that its valid part lands exactly on the image.
    full = (round(logits.shape[2] * targets.STRIDE / scale), round(logits.shape[3] * targets.STRIDE / scale))
    logits = F.interpolate(logits, size=full, mode="bilinear", align_corners=False)[0, :, :height, :width]
    return torch.softmax(logits[:-1], dim=0).numpy(), torch.sigmoid(logits[-1]).numpy()


class Instance:
    """One predicted package: ``category``, ``score``, and its region as ``shape`` and ``mask``.

    ``mask`` may be given at a working resolution below the image's (``image_size``, (H, W)):
    ``shape`` is traced there and scaled to image pixels, and ``mask`` is resampled to (H, W)
    on first access, so a caller that needs only shapes never builds a full-size mask.
    """

    def __init__(
        self, mask: np.ndarray, category: str, score: float, image_size: tuple[int, int] | None = None
    ):
        self.working_mask = mask  # bool (h, w)
        self.category = category
        self.score = (
            score  # 0..1: calibrated probability of a real package (ml.universal.calibration), else raw
        )
        self.image_size = (
            (int(image_size[0]), int(image_size[1])) if image_size is not None else mask.shape[:2]
        )

    def __repr__(self) -> str:
        return f"Instance(category={self.category!r}, score={self.score:.4f}, image_size={self.image_size})"

    @functools.cached_property
    def mask(self) -> np.ndarray:
        """Bool (H, W) at image resolution (``geometry.resize_mask`` of the working mask)."""
        if self.working_mask.shape == self.image_size:
            return self.working_mask
        return geometry.resize_mask(self.working_mask, *self.image_size)

    @functools.cached_property
    def shape(self) -> geometry.Shape:
        """Simplified MultiPolygon (image pixels), computed on first access."""
        shape = geometry.mask_to_shape_simplified(self.working_mask)[0]
        (height, width), (h, w) = self.image_size, self.working_mask.shape
        if (h, w) == (height, width):
            return shape
        return geometry.scale_shape(shape, width / w, height / h)


@dataclass
class PredictionResult:
    instances: list[Instance]
    uncertainty: float  # 0..1, higher = more useful to label; see grouping.image_uncertainty
    features: np.ndarray  # float32 (D,), L2-normalised image descriptor for diversity sampling
    maps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)


class UniversalPredictor:
    """Wraps a loaded model; ``predict`` runs under ``torch.inference_mode``."""

    def __init__(self, model: UniversalNet, meta: dict[str, Any]):
        self.model = fuse_for_inference(model)  # a folded copy; ``model`` itself is untouched
        self.meta = meta
        self.input_size = int(meta["input_size"])
        self.working_long_side = int(meta.get("working_size", WORKING_LONG_SIDE))
        self.grouping = GroupingParams(**meta.get("grouping", {}))
        # Shapes scored from all of their evidence (``ml.universal.rescoring``), when the checkpoint has a rescorer.
        self.rescorer = Rescorer.from_meta(meta.get("rescorer"))
        # Average the maps of the image and of its mirror images (``FLIPS``). Checkpoints choose them
        # (``meta["test_time_flips"]``) because their grouping threshold was tuned with or without them.
        self.test_time_flips = [str(f) for f in meta.get("test_time_flips", [])]
        # A centre tower also sees the image at these long sides; its maps of all sizes are averaged (``_tower``).
        self.tower_sizes = [int(s) for s in meta.get("tower_sizes", [])]
        if self.tower_sizes and not isinstance(self.model.centers, CenterTower):
            raise ValueError(
                f"tower_sizes {self.tower_sizes} need a centre tower; {meta['architecture']} has none"
            )
        unknown = sorted(set(self.test_time_flips) - set(FLIPS))
        if unknown:
            raise ValueError(f"unknown test-time flips {unknown}; choose from {sorted(FLIPS)}")

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> UniversalPredictor:
        model, meta = load_checkpoint(path)
        return cls(model, meta)

    @property
    def categories(self) -> list[str]:
        return list(self.meta["categories"])

    @property
    def default_threshold(self) -> float:
        """The pre-label score threshold the checkpoint's calibration chose (``meta["default_threshold"]``);
        0 (every shape) for a checkpoint without one."""
        return float(self.meta.get("default_threshold", UNCALIBRATED_THRESHOLD))

    @torch.inference_mode()
    def dense_maps(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Class probabilities (C + 1, H, W) and interior (H, W) at image resolution, features (D,),
        and both at the network's output resolution (C + 2, h, w): class probabilities, then interior,
        then, with a centre head, its heatmap probability and log box sizes (C + 5 channels).

        ``predict`` skips the image-resolution maps of a large image (see ``working_size``);
        ``from_maps`` brings these down to the working resolution itself."""
        return self._maps(image, image.shape[0], image.shape[1])

    def _maps(
        self, image: np.ndarray, height: int, width: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``dense_maps`` with the fine maps at (``height``, ``width``), the image's size or a resize of it."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected uint8 RGB (H, W, 3), got {image.dtype} {image.shape}")
        resized, scale = targets.resize_long_side(image, self.input_size)
        x = targets.to_tensor(resized)[None]
        valid = (-(-resized.shape[0] // targets.STRIDE), -(-resized.shape[1] // targets.STRIDE))
        out = self._forward(x, resized, valid)
        if self.tower_sizes:
            out["centers"] = self._tower(image, out["centers"], valid)
        # ``scale`` maps the image to the network's input; relative to (height, width) it is larger.
        scale *= max(image.shape[:2]) / max(height, width)
        probs, interior = maps_at_image_size(
            torch.cat([out["semantic"], out["interior"]], dim=1), scale, height, width
        )
        features = F.normalize(out["features"][0], dim=0).numpy().astype(np.float32)
        parts = [torch.softmax(out["semantic"][0], dim=0), torch.sigmoid(out["interior"][0])]
        if "centers" in out:  # heatmap probability, log width, log height (ml.universal.centers)
            parts += [torch.sigmoid(out["centers"][0, :1]), out["centers"][0, 1:]]
        coarse = torch.cat(parts)[:, : valid[0], : valid[1]].numpy()
        return probs, interior, features, coarse

    def _forward(
        self, x: torch.Tensor, resized: np.ndarray, valid: tuple[int, int]
    ) -> dict[str, torch.Tensor]:
        """The network's outputs for ``x`` (1, 3, H', W'); with ``test_time_flips``, the logits of ``x``
        and of its mirror images, mirrored back, averaged over the valid (unpadded) part."""
        if not self.test_time_flips:
            return self.model(x)
        # Mirror before padding, so that every view has its padding right and below and the valid
        # parts line up. One pass per view: on one core a batch of four took about a third longer
        # than four passes (its activations outgrow the cache), for the same outputs.
        pad_to = (x.shape[2], x.shape[3])
        views = [x[0]] + [
            targets.to_tensor(np.ascontiguousarray(np.flip(resized, FLIPS[f][0])), pad_to=pad_to)
            for f in self.test_time_flips
        ]
        # A centre tower runs once, on the image itself (``model.CenterTower``): four passes would double the time.
        tower = self.model.centers if isinstance(self.model.centers, CenterTower) else None
        passes = [self.model(view[None], tower=tower is None) for view in views]
        out = {key: torch.cat([p[key] for p in passes]) for key in passes[0]}
        (vh, vw), merged = valid, {"features": out["features"][:1]}
        if tower is not None:
            merged["centers"] = tower(x)
        for key in ("semantic", "interior", "centers"):
            if key not in out:
                continue
            parts = out[key][:, :, :vh, :vw]
            total = parts[0].clone()
            for k, flip in enumerate(self.test_time_flips, start=1):
                total += parts[k].flip(FLIPS[flip][1])
            merged[key] = out[key][:1].clone()
            merged[key][0, :, :vh, :vw] = total / len(views)
        return merged

    def _tower(self, image: np.ndarray, centers: torch.Tensor, valid: tuple[int, int]) -> torch.Tensor:
        """``centers`` (1, 3, h, w) averaged with the tower's outputs for ``image`` resized to each of ``tower_sizes``:
        the logits and log box sizes of each size resized to the valid (h, w), the sizes rescaled to its pixels.

        Why: small cartons are few pixels at the maps' input, and a tower may see them better in a larger copy.
        For the eighteenth file 448 and 576 px averaged tied 448 alone on the val captures (the model card)."""
        tower = self.model.centers
        assert isinstance(tower, CenterTower)  # checked in __init__
        (vh, vw), total = valid, centers[:, :, : valid[0], : valid[1]].clone()
        for size in self.tower_sizes:
            resized, _ = targets.resize_long_side(image, size)
            out = tower(targets.to_tensor(resized)[None])
            h, w = -(-resized.shape[0] // targets.STRIDE), -(-resized.shape[1] // targets.STRIDE)
            out = F.interpolate(out[:, :, :h, :w], size=(vh, vw), mode="bilinear", align_corners=False)
            # Log box sizes in this size's pixels, brought to the maps'.
            out[:, 1:] += float(np.log(self.input_size / size))
            total += out
        merged = centers.clone()
        merged[:, :, :vh, :vw] = total / (1 + len(self.tower_sizes))
        return merged

    def predict(self, image: np.ndarray, keep_maps: bool = False) -> PredictionResult:
        """Instances (shapes in image pixels), uncertainty and image features for one uint8 RGB image;
        with ``keep_maps``, ``maps`` holds the working-resolution maps."""
        height, width = image.shape[:2]
        with torch.inference_mode():
            maps = self._maps(image, *working_size(height, width, self.working_long_side))
        return self.from_maps(*maps, keep_maps=keep_maps, image_size=(height, width))

    def from_maps(
        self,
        probs: np.ndarray,
        interior: np.ndarray,
        features: np.ndarray,
        coarse: np.ndarray,
        keep_maps: bool = False,
        grouping: GroupingParams | None = None,
        image_size: tuple[int, int] | None = None,
    ) -> PredictionResult:
        """Group ``dense_maps`` output into a result (lets callers try several ``grouping``s).

        ``image_size`` (H, W) is the image's when the maps are smaller (``predict`` passes maps at
        the working resolution); by default the maps' own. Maps larger than the working size are
        resized down to it first (``cv2.INTER_AREA``), so tuning the grouping on ``dense_maps``
        sees what ``predict`` groups.
        """
        image_size = (
            (int(image_size[0]), int(image_size[1])) if image_size is not None else interior.shape[:2]
        )
        raw, probs, interior = self.raw_instances(probs, interior, coarse, grouping, image_size)
        if self.rescorer is not None:
            raw = self.rescorer.rescore(raw, probs, interior)
        raw.sort(key=lambda r: -r.score)
        cats = self.categories
        calibration = self.meta.get("score_calibration")
        instances = [
            Instance(
                mask=r.mask,
                category=cats[r.class_index - 1],
                score=calibrated_score(r.score, calibration),
                image_size=image_size,
            )
            for r in raw
        ]
        classes = len(cats) + 1
        uncertainty = image_uncertainty(coarse[:classes], coarse[classes], [r.score for r in raw])
        maps = {"probs": probs, "interior": interior} if keep_maps else {}
        return PredictionResult(instances=instances, uncertainty=uncertainty, features=features, maps=maps)

    def raw_instances(
        self,
        probs: np.ndarray,
        interior: np.ndarray,
        coarse: np.ndarray,
        grouping: GroupingParams | None = None,
        image_size: tuple[int, int] | None = None,
    ) -> tuple[list[RawInstance], np.ndarray, np.ndarray]:
        """(instances before rescoring and calibration, unsorted, with their evidence; the class probabilities
        and interior map at the working resolution they were grouped at): ``from_maps``' first step."""
        image_size = image_size or interior.shape[:2]
        work = working_size(*image_size, self.working_long_side)
        if interior.shape[:2] != work and interior.shape[:2] == image_size:
            probs, interior = _resize_maps(probs, interior, work)
        classes = len(self.categories) + 1
        if coarse.shape[0] > classes + 1:  # a centre head: one instance per centre
            raw = self._group_from_centers(probs, interior, coarse[classes + 1 :], grouping or self.grouping)
        else:
            raw = group_instances(probs, interior, grouping or self.grouping)
        return raw, probs, interior

    def _group_from_centers(
        self, probs: np.ndarray, interior: np.ndarray, centers: np.ndarray, grouping: GroupingParams
    ) -> list[RawInstance]:
        """``centers.group_with_centers`` on maps at the working resolution, the boxes decoded from the
        network's stride-2 centre maps (``centers``: (3, h, w), the valid part of the padded input)."""
        boxes, scores = decode_boxes(centers, grouping.center_threshold)
        # The stride-2 maps cover the resized image (rounded up to whole pixels); scale to the maps here.
        scale = np.array([interior.shape[1] / centers.shape[2], interior.shape[0] / centers.shape[1]] * 2)
        return group_with_centers(probs, interior, boxes * scale, scores, grouping)


def _resize_maps(
    probs: np.ndarray, interior: np.ndarray, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities (C + 1, H, W) and interior (H, W) area-averaged down to ``size`` (h, w)."""
    # One channel at a time: cv2's area resize takes at most 4 channels.
    small = [
        cv2.resize(np.ascontiguousarray(m), (size[1], size[0]), interpolation=cv2.INTER_AREA)
        for m in (*probs, interior)
    ]
    return np.stack(small[:-1]), small[-1]

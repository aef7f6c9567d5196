"""NumPy-in / NumPy-out inference with the universal model.

    predictor = UniversalPredictor.from_checkpoint("ml/checkpoints/universal_base.pt")
    result = predictor.predict(image)  # uint8 RGB (H, W, 3)
    for inst in result.instances: inst.mask, inst.category, inst.score, inst.shape

Masks are at the input image's resolution, pixel coordinates x right / y down.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ml import geometry
from ml.universal import targets
from ml.universal.calibration import UNCALIBRATED_THRESHOLD, calibrated_score
from ml.universal.checkpoint import load_checkpoint
from ml.universal.grouping import GroupingParams, group_instances, image_uncertainty
from ml.universal.model import UniversalUNet, fuse_for_inference

# Test-time mirror images: name -> (axes of an (H, W, 3) image, dims of a (C, h, w) map) to flip.
FLIPS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {"x": ((1,), (-1,)), "y": ((0,), (-2,)),
                                                             "xy": ((0, 1), (-2, -1))}


def maps_at_image_size(logits: torch.Tensor, scale: float, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities (C + 1, H, W) and interior (H, W) at image resolution from the padded
    stride-2 logits (1, C + 2, h, w) of an image resized by ``scale`` (classes first, interior last)."""
    # Upsample the whole padded map so that its valid part lands exactly on the image.
    full = (round(logits.shape[2] * targets.STRIDE / scale), round(logits.shape[3] * targets.STRIDE / scale))
    logits = F.interpolate(logits, size=full, mode="bilinear", align_corners=False)[0, :, :height, :width]
    return torch.softmax(logits[:-1], dim=0).numpy(), torch.sigmoid(logits[-1]).numpy()


@dataclass
class Instance:
    mask: np.ndarray  # bool (H, W)
    category: str
    score: float  # 0..1: calibrated probability of a real package (ml.universal.calibration), else the raw score

    @functools.cached_property
    def shape(self) -> geometry.Shape:
        """Simplified MultiPolygon (image pixels), computed on first access."""
        return geometry.mask_to_shape_simplified(self.mask)[0]


@dataclass
class PredictionResult:
    instances: list[Instance]
    uncertainty: float  # 0..1, higher = more useful to label; see grouping.image_uncertainty
    features: np.ndarray  # float32 (D,), L2-normalised image descriptor for diversity sampling
    maps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)


class UniversalPredictor:
    """Wraps a loaded model; ``predict`` runs under ``torch.inference_mode``."""

    def __init__(self, model: UniversalUNet, meta: dict[str, Any]):
        self.model = fuse_for_inference(model)  # a folded copy; ``model`` itself is untouched
        self.meta = meta
        self.input_size = int(meta["input_size"])
        self.grouping = GroupingParams(**meta.get("grouping", {}))
        # Average the maps of the image and of its mirror images (``FLIPS``). Checkpoints choose them
        # (``meta["test_time_flips"]``) because their grouping threshold was tuned with or without them.
        self.test_time_flips = [str(f) for f in meta.get("test_time_flips", [])]
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
        and both at the network's output resolution (C + 2, h, w): class probabilities, then interior."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected uint8 RGB (H, W, 3), got {image.dtype} {image.shape}")
        height, width = image.shape[:2]
        resized, scale = targets.resize_long_side(image, self.input_size)
        x = targets.to_tensor(resized)[None]
        valid = (-(-resized.shape[0] // targets.STRIDE), -(-resized.shape[1] // targets.STRIDE))
        out = self._forward(x, resized, valid)
        probs, interior = maps_at_image_size(torch.cat([out["semantic"], out["interior"]], dim=1), scale,
                                             height, width)
        features = F.normalize(out["features"][0], dim=0).numpy().astype(np.float32)
        coarse_maps = torch.cat([torch.softmax(out["semantic"][0], dim=0), torch.sigmoid(out["interior"][0])])
        coarse = coarse_maps[:, : valid[0], : valid[1]].numpy()
        return probs, interior, features, coarse

    def _forward(self, x: torch.Tensor, resized: np.ndarray, valid: tuple[int, int]) -> dict[str, torch.Tensor]:
        """The network's outputs for ``x`` (1, 3, H', W'); with ``test_time_flips``, the logits of ``x``
        and of its mirror images, mirrored back, averaged over the valid (unpadded) part."""
        if not self.test_time_flips:
            return self.model(x)
        # Mirror before padding, so that every view has its padding right and below and the valid
        # parts line up; one batch of views is cheaper than a pass each.
        pad_to = (x.shape[2], x.shape[3])
        views = [x[0]] + [targets.to_tensor(np.ascontiguousarray(np.flip(resized, FLIPS[f][0])), pad_to=pad_to)
                          for f in self.test_time_flips]
        out = self.model(torch.stack(views))
        (vh, vw), merged = valid, {"features": out["features"][:1]}
        for key in ("semantic", "interior"):
            parts = out[key][:, :, :vh, :vw]
            total = parts[0].clone()
            for k, flip in enumerate(self.test_time_flips, start=1):
                total += parts[k].flip(FLIPS[flip][1])
            merged[key] = out[key][:1].clone()
            merged[key][0, :, :vh, :vw] = total / len(views)
        return merged

    def predict(self, image: np.ndarray, keep_maps: bool = False) -> PredictionResult:
        """Instances, uncertainty and image features for one uint8 RGB image."""
        return self.from_maps(*self.dense_maps(image), keep_maps=keep_maps)

    def from_maps(self, probs: np.ndarray, interior: np.ndarray, features: np.ndarray, coarse: np.ndarray,
                  keep_maps: bool = False, grouping: GroupingParams | None = None) -> PredictionResult:
        """Group ``dense_maps`` output into a result (lets callers try several ``grouping``s)."""
        raw = group_instances(probs, interior, grouping or self.grouping)
        raw.sort(key=lambda r: -r.score)
        cats = self.categories
        calibration = self.meta.get("score_calibration")
        instances = [Instance(mask=r.mask, category=cats[r.class_index - 1], score=calibrated_score(r.score, calibration))
                     for r in raw]
        uncertainty = image_uncertainty(coarse[:-1], coarse[-1], [r.score for r in raw])
        maps = {"probs": probs, "interior": interior} if keep_maps else {}
        return PredictionResult(instances=instances, uncertainty=uncertainty, features=features, maps=maps)

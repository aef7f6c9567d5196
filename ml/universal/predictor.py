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
from ml.universal.checkpoint import load_checkpoint
from ml.universal.grouping import GroupingParams, group_instances, image_uncertainty
from ml.universal.model import UniversalUNet, fuse_for_inference


@dataclass
class Instance:
    mask: np.ndarray  # bool (H, W)
    category: str
    score: float  # 0..1, see grouping.group_instances

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
        # Average the maps of the image and its mirror image (left-right). Checkpoints choose it
        # (``meta["test_time_flip"]``) because their grouping threshold was tuned with or without it.
        self.test_time_flip = bool(meta.get("test_time_flip", False))

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> UniversalPredictor:
        model, meta = load_checkpoint(path)
        return cls(model, meta)

    @property
    def categories(self) -> list[str]:
        return list(self.meta["categories"])

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
        out = self._forward(x, resized, valid[1])
        # Upsample the whole padded map so that its valid part lands exactly on the image.
        full = (round(x.shape[2] / scale), round(x.shape[3] / scale))
        logits = torch.cat([out["semantic"], out["interior"]], dim=1)
        logits = F.interpolate(logits, size=full, mode="bilinear", align_corners=False)[0, :, :height, :width]
        probs = torch.softmax(logits[:-1], dim=0).numpy()
        interior = torch.sigmoid(logits[-1]).numpy()
        features = F.normalize(out["features"][0], dim=0).numpy().astype(np.float32)
        coarse = torch.cat([torch.softmax(out["semantic"][0], dim=0), torch.sigmoid(out["interior"][0])])
        coarse = coarse[:, : valid[0], : valid[1]].numpy()
        return probs, interior, features, coarse

    def _forward(self, x: torch.Tensor, resized: np.ndarray, valid_width: int) -> dict[str, torch.Tensor]:
        """The network's outputs for ``x`` (1, 3, H', W'); with ``test_time_flip``, the logits of ``x``
        and of its mirror image, mirrored back, averaged over the valid (unpadded) columns."""
        if not self.test_time_flip:
            return self.model(x)
        # Mirror before padding, so that both passes see the padding on the right and their valid
        # columns line up; one batch of two is cheaper than two passes.
        mirrored = targets.to_tensor(np.ascontiguousarray(resized[:, ::-1]), pad_to=tuple(x.shape[2:]))
        both = self.model(torch.cat([x, mirrored[None]]))
        out = {"features": both["features"][:1]}
        for key in ("semantic", "interior"):
            plain, flipped = both[key][:1].clone(), both[key][1:]
            plain[..., :valid_width] += flipped[..., :valid_width].flip(-1)
            plain[..., :valid_width] /= 2
            out[key] = plain
        return out

    def predict(self, image: np.ndarray, keep_maps: bool = False) -> PredictionResult:
        """Instances, uncertainty and image features for one uint8 RGB image."""
        return self.from_maps(*self.dense_maps(image), keep_maps=keep_maps)

    def from_maps(self, probs: np.ndarray, interior: np.ndarray, features: np.ndarray, coarse: np.ndarray,
                  keep_maps: bool = False, grouping: GroupingParams | None = None) -> PredictionResult:
        """Group ``dense_maps`` output into a result (lets callers try several ``grouping``s)."""
        raw = group_instances(probs, interior, grouping or self.grouping)
        raw.sort(key=lambda r: -r.score)
        cats = self.categories
        instances = [Instance(mask=r.mask, category=cats[r.class_index - 1], score=r.score) for r in raw]
        uncertainty = image_uncertainty(coarse[:-1], coarse[-1], [r.score for r in raw])
        maps = {"probs": probs, "interior": interior} if keep_maps else {}
        return PredictionResult(instances=instances, uncertainty=uncertainty, features=features, maps=maps)

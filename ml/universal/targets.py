"""Image preprocessing and training targets shared by training and inference.

The model sees the image resized so its longest side is ``input_size`` pixels, padded on the
right/bottom to a multiple of 32. Targets live at the model's output stride (2).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

STRIDE = 2  # output stride of the network heads
MULTIPLE = 32  # input sides must be multiples of the encoder's total stride
IGNORE = 255  # semantic target value excluded from the loss (padding, unknown categories)
INTERIOR_SATURATION = 4.0  # px at stride 2; see normalised_interior


def resize_long_side(image: np.ndarray, input_size: int, interpolation=cv2.INTER_AREA) -> tuple[np.ndarray, float]:
    """Resize so max(H, W) == ``input_size``; returns (resized, scale = new / old)."""
    height, width = image.shape[:2]
    scale = input_size / max(height, width)
    if abs(scale - 1.0) < 1e-6:
        return image, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=interpolation), scale


def padded_size(height: int, width: int) -> tuple[int, int]:
    """Round (H, W) up to the next multiple of 32."""
    return -(-height // MULTIPLE) * MULTIPLE, -(-width // MULTIPLE) * MULTIPLE


def to_tensor(image: np.ndarray, pad_to: tuple[int, int] | None = None) -> torch.Tensor:
    """uint8 RGB (H, W, 3) -> float (3, H', W') in [0, 1], zero-padded bottom/right to ``pad_to``."""
    height, width = image.shape[:2]
    ph, pw = pad_to if pad_to is not None else padded_size(height, width)
    out = torch.zeros(3, ph, pw)
    out[:, :height, :width] = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255.0
    return out


def instance_targets(labels: np.ndarray, classes: np.ndarray, pad_to: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Semantic and interior targets at stride 2 from an instance label map.

    ``labels``: int (H, W), 0 background, k for instance k (input resolution, unpadded).
    ``classes``: int array, ``classes[k]`` is instance k's class (1..C), or ``IGNORE``.
    Returns (semantic uint8 (H'/2, W'/2) with IGNORE on padding, interior float32 in [0, 1], see ``normalised_interior``).
    """
    ph, pw = pad_to
    height, width = labels.shape
    h2, w2 = -(-height // STRIDE), -(-width // STRIDE)
    small = cv2.resize(labels.astype(np.int32).astype(np.float32), (w2, h2), interpolation=cv2.INTER_NEAREST)
    small = small.astype(np.int64)
    semantic = np.full((ph // STRIDE, pw // STRIDE), IGNORE, dtype=np.uint8)
    semantic[:h2, :w2] = classes[small]
    interior = np.zeros((ph // STRIDE, pw // STRIDE), dtype=np.float32)
    interior[:h2, :w2] = normalised_interior(small)
    return semantic, interior


def normalised_interior(labels: np.ndarray, saturation: float = INTERIOR_SATURATION) -> np.ndarray:
    """Distance to the instance's border over min(``saturation``, the instance's peak distance), clipped to 1.

    Large parcels therefore have a plateau of 1 that starts ``saturation`` pixels (at stride 2)
    inside their border, so odd, occluded outlines do not split; small ones still peak at 1.
    """
    border = np.zeros(labels.shape, dtype=bool)
    border[:-1] |= labels[:-1] != labels[1:]
    border[1:] |= labels[1:] != labels[:-1]
    border[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    border[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    inside = ((labels > 0) & ~border).astype(np.uint8)
    inside = np.pad(inside, 1)  # image edges count as borders too
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, 3)[1:-1, 1:-1]
    peak = np.zeros(int(labels.max()) + 1, dtype=np.float32)
    np.maximum.at(peak, labels.ravel(), dist.ravel())
    peak[0] = 1.0
    scale = np.minimum(peak, saturation)
    return np.minimum(dist / np.maximum(scale[labels], 1e-6), 1.0).astype(np.float32)

"""The prompt-engine interface: clicks / a box / a previous mask in, one mask out.

Conventions (shared with ``ml.geometry``):

* Image coordinates are pixels, x to the right, y down. Pixel (col, row) covers
  [col, col+1) x [row, row+1), so a click in the middle of that pixel is (col+0.5, row+0.5).
* Images are RGB ``uint8`` arrays of shape (height, width, 3); masks are bool (height, width).
* ``embed`` is the expensive, once-per-image step; ``segment`` is the cheap per-click step.
  An :class:`Embedding` round-trips through bytes (float16 payload) so it can be computed
  at upload time, stored, and restored later without recomputation.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from ml import geometry


class InvalidPromptError(ValueError):
    """A prompt that cannot be used; ``field`` names the bad part (e.g. ``points[2]``)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class EmbeddingMismatchError(ValueError):
    """An embedding produced by another engine (or corrupt bytes) was given to this engine."""


@dataclass
class Prompts:
    """What the annotator gave: points (x, y) in image pixels, labels 1=positive / 0=negative,
    an optional box (x0, y0, x1, y1) and an optional previous bool mask (height, width)."""

    points: list[tuple[float, float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None
    mask: np.ndarray | None = None

    @property
    def positive_points(self) -> list[tuple[float, float]]:
        return [p for p, lab in zip(self.points, self.labels, strict=True) if lab == 1]

    @property
    def negative_points(self) -> list[tuple[float, float]]:
        return [p for p, lab in zip(self.points, self.labels, strict=True) if lab == 0]


@dataclass
class SegmentResult:
    """One mask (bool, image size), the engine's confidence in [0, 1] and who answered."""

    mask: np.ndarray
    score: float
    engine_id: str


_MAGIC = b"PEMB"
_VERSION = 1


@dataclass
class Embedding:
    """The per-image state an engine needs for ``segment``.

    ``image_size`` is (height, width) of the original image. ``arrays`` are stored as float16
    (exact for uint8 image data, ~3 significant digits for network features); ``meta`` holds
    small JSON-able values (e.g. the resized input size SAM used).
    """

    engine_id: str
    image_size: tuple[int, int]
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """Serialise: magic, version, header length, JSON header, float16 payloads."""
        header = {
            "engine_id": self.engine_id,
            "image_size": list(self.image_size),
            "meta": self.meta,
            "arrays": [{"name": k, "shape": list(v.shape)} for k, v in self.arrays.items()],
        }
        head = json.dumps(header).encode("utf-8")
        payload = b"".join(np.ascontiguousarray(v, dtype="<f2").tobytes() for v in self.arrays.values())
        return _MAGIC + struct.pack("<BI", _VERSION, len(head)) + head + payload

    @classmethod
    def from_bytes(cls, data: bytes) -> Embedding:
        """Inverse of :meth:`to_bytes`; arrays come back as float32."""
        if len(data) < 9 or data[:4] != _MAGIC:
            raise EmbeddingMismatchError("not a prompt-engine embedding (bad magic)")
        version, head_len = struct.unpack("<BI", data[4:9])
        if version != _VERSION:
            raise EmbeddingMismatchError(f"unsupported embedding format version {version}")
        try:
            header = json.loads(data[9 : 9 + head_len].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EmbeddingMismatchError(f"corrupt embedding header: {exc}") from exc
        offset = 9 + head_len
        arrays: dict[str, np.ndarray] = {}
        for spec in header["arrays"]:
            shape = tuple(int(s) for s in spec["shape"])
            n = math.prod(shape)
            chunk = data[offset : offset + 2 * n]
            if len(chunk) != 2 * n:
                raise EmbeddingMismatchError(f"embedding array {spec['name']!r} is truncated")
            arrays[spec["name"]] = np.frombuffer(chunk, dtype="<f2").reshape(shape).astype(np.float32)
            offset += 2 * n
        h, w = header["image_size"]
        return cls(header["engine_id"], (int(h), int(w)), arrays, header.get("meta", {}))


@runtime_checkable
class PromptEngine(Protocol):
    """Interface every prompt engine implements (SAM, the offline engine, GrabCut)."""

    engine_id: str

    def embed(self, image: np.ndarray) -> Embedding: ...

    def segment(self, embedding: Embedding, prompts: Prompts) -> SegmentResult: ...

    def embedding_from_bytes(self, data: bytes) -> Embedding: ...


class EngineBase:
    """Shared plumbing: engine-id checks when restoring and before segmenting."""

    engine_id: str = "unset"

    def embedding_from_bytes(self, data: bytes) -> Embedding:
        """Restore an embedding stored by ``Embedding.to_bytes``; it must come from this engine."""
        embedding = Embedding.from_bytes(data)
        self._check_embedding(embedding)
        return embedding

    def _check_embedding(self, embedding: Embedding) -> None:
        if embedding.engine_id != self.engine_id:
            raise EmbeddingMismatchError(
                f"embedding was computed by {embedding.engine_id!r}, this engine is {self.engine_id!r}"
            )


def check_image(image: np.ndarray) -> np.ndarray:
    """Validate an RGB uint8 (H, W, 3) image (grey (H, W) is expanded) and return it."""
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f"image too small: {image.shape[1]}x{image.shape[0]}")
    return image


def validate_prompts(prompts: Prompts, width: int, height: int) -> None:
    """Raise :class:`InvalidPromptError` naming the first bad prompt; coordinates in pixels."""
    if len(prompts.points) != len(prompts.labels):
        raise InvalidPromptError(
            f"{len(prompts.points)} points but {len(prompts.labels)} labels", field="labels"
        )
    for i, (point, label) in enumerate(zip(prompts.points, prompts.labels, strict=True)):
        if label not in (0, 1) or isinstance(label, bool):
            raise InvalidPromptError(
                f"label must be 1 (positive) or 0 (negative), got {label!r}", field=f"labels[{i}]"
            )
        if len(point) != 2 or not all(_is_finite_number(v) for v in point):
            raise InvalidPromptError(
                f"point must be two finite numbers (x, y), got {point!r}", field=f"points[{i}]"
            )
        x, y = point
        if not (0 <= x <= width and 0 <= y <= height):
            raise InvalidPromptError(
                f"point ({x}, {y}) is outside the {width}x{height} image", field=f"points[{i}]"
            )
    if prompts.box is not None:
        box = prompts.box
        if len(box) != 4 or not all(_is_finite_number(v) for v in box):
            raise InvalidPromptError(
                f"box must be four finite numbers (x0, y0, x1, y1), got {box!r}", field="box"
            )
        x0, y0, x1, y1 = box
        if not (x1 > x0 and y1 > y0):
            raise InvalidPromptError(f"box needs x1 > x0 and y1 > y0, got {tuple(box)}", field="box")
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            raise InvalidPromptError(
                f"box {tuple(box)} reaches outside the {width}x{height} image", field="box"
            )
    if prompts.mask is not None:
        if prompts.mask.shape != (height, width):
            raise InvalidPromptError(
                f"mask shape {prompts.mask.shape} does not match the image ({height}, {width})", field="mask"
            )
    has_positive = any(label == 1 for label in prompts.labels)
    has_mask = prompts.mask is not None and bool(np.any(prompts.mask))
    if not (has_positive or prompts.box is not None or has_mask):
        raise InvalidPromptError(
            "empty prompt: give at least one positive point, a box or a non-empty previous mask",
            field="points" if prompts.points else "prompts",
        )


def _is_finite_number(v: Any) -> bool:
    return (
        isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool) and math.isfinite(v)
    )


def segment_to_polygons(result: SegmentResult, *, min_iou: float = 0.98) -> tuple[geometry.Shape, int, float]:
    """Mask -> MultiPolygon via ``ml.geometry``: (shape, vertex count, IoU of polygon vs mask)."""
    shape, iou = geometry.mask_to_shape_simplified(result.mask, min_iou=min_iou)
    return shape, geometry.shape_vertex_count(shape), iou


BOX_FIT_TOLERANCE = 0.05  # a gap up to this share of the box side (or 3 px) is a loosely drawn box


def box_fit(mask: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """How well a mask answers a box prompt ``(x0, y0, x1, y1)`` (pixels), in [0, 1].

    A box says "the object fills this box". The score is the IoU of the box with the mask's
    bounding box, after snapping each side of the mask's box that lies within a tolerance
    (``BOX_FIT_TOLERANCE`` of the box side, at least 3 px) onto the prompt's side, so a loosely
    drawn box costs nothing. A mask covering one face of a carton (half the box) scores about
    0.5; one spilling out of the box loses what it spills; an empty mask scores 0.
    """
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return 0.0
    bx0, by0, bx1, by1 = (float(v) for v in box)
    m = [float(xs.min()), float(ys.min()), float(xs.max()) + 1.0, float(ys.max()) + 1.0]
    tol_x = max(3.0, BOX_FIT_TOLERANCE * (bx1 - bx0))
    tol_y = max(3.0, BOX_FIT_TOLERANCE * (by1 - by0))
    for k, (edge, tol) in enumerate(((bx0, tol_x), (by0, tol_y), (bx1, tol_x), (by1, tol_y))):
        if abs(m[k] - edge) <= tol:
            m[k] = edge
    iw = max(0.0, min(bx1, m[2]) - max(bx0, m[0]))
    ih = max(0.0, min(by1, m[3]) - max(by0, m[1]))
    inter = iw * ih
    union = (bx1 - bx0) * (by1 - by0) + (m[2] - m[0]) * (m[3] - m[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def result_score(own: float, mask: np.ndarray, prompts: Prompts) -> float:
    """The score an engine reports: its own measure of the mask (SAM's predicted IoU, the offline
    scorer's predicted IoU or edge contrast), and for a box prompt no more than ``box_fit``: a
    mask is only as good as its weaker evidence, so one face of a carton never scores 1.00."""
    own = float(np.clip(own, 0.0, 1.0))
    return min(own, box_fit(mask, prompts.box)) if prompts.box is not None else own


def point_disks(points: list[tuple[float, float]], height: int, width: int, radius: float) -> np.ndarray:
    """Bool mask of filled disks (``radius`` px) around points given in image pixel coords."""
    out = np.zeros((height, width), dtype=np.uint8)
    for x, y in points:
        c = (min(int(x), width - 1), min(int(y), height - 1))
        cv2.circle(out, c, max(int(round(radius)), 0), 1, thickness=-1)
    return out.astype(bool)

"""Drawing of individual parcels onto a :class:`Canvas` with exact modal ownership.

Coordinates are image pixels (x right, y down). Each ``draw_*`` function paints one object
over what is already there; pixels it covers change owner, so drawing back-to-front yields
modal masks with exactly one owner per pixel.
"""

from __future__ import annotations

import cv2
import numpy as np

_SUBPIXEL_BITS = 3  # cv2 fixed-point vertices: 1/8 px precision
_SCALE = float(1 << _SUBPIXEL_BITS)


class Canvas:
    """Scene being drawn: float32 RGB image (H, W, 3) and an int32 owner map (0 = background)."""

    def __init__(self, background: np.ndarray):
        self.image = background
        self.owner = np.zeros(background.shape[:2], dtype=np.int32)
        self.categories: list[str] = []

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[0], self.image.shape[1]

    def region(self, points: np.ndarray, margin: int = 2) -> tuple[int, int, int, int] | None:
        """Clipped integer box (x0, y0, x1, y1) around ``points`` (N, 2), or None if off-image."""
        h, w = self.size
        x0 = max(int(np.floor(points[:, 0].min())) - margin, 0)
        y0 = max(int(np.floor(points[:, 1].min())) - margin, 0)
        x1 = min(int(np.ceil(points[:, 0].max())) + margin, w)
        y1 = min(int(np.ceil(points[:, 1].max())) + margin, h)
        return None if x1 <= x0 or y1 <= y0 else (x0, y0, x1, y1)

    def shadow(
        self, mask: np.ndarray, box: tuple[int, int, int, int], offset: tuple[int, int], strength: float
    ):
        """Darken the image under ``mask`` (a crop at ``box``) shifted by ``offset`` px."""
        h, w = self.size
        x0, y0, x1, y1 = box
        dx, dy = offset
        sx0, sy0, sx1, sy1 = max(x0 + dx, 0), max(y0 + dy, 0), min(x1 + dx, w), min(y1 + dy, h)
        if sx1 <= sx0 or sy1 <= sy0:
            return
        soft = cv2.blur(mask.astype(np.float32), (5, 5))
        soft = soft[sy0 - y0 - dy : sy1 - y0 - dy, sx0 - x0 - dx : sx1 - x0 - dx]
        self.image[sy0:sy1, sx0:sx1] *= (1.0 - strength * soft)[..., None]

    def paste(self, mask: np.ndarray, colour: np.ndarray, box, category: str, alpha: float = 1.0) -> int:
        """Composite ``colour`` (crop, H'xW'x3) where ``mask``; the pixels now belong to a new id."""
        x0, y0, x1, y1 = box
        view = self.image[y0:y1, x0:x1]
        if alpha >= 1.0:
            view[mask] = colour[mask]
        else:
            view[mask] = alpha * colour[mask] + (1.0 - alpha) * view[mask]
        self.categories.append(category)
        ident = len(self.categories)
        self.owner[y0:y1, x0:x1][mask] = ident
        return ident


def fill(polys: list[np.ndarray], box, value=1) -> np.ndarray:
    """Rasterise polygons (list of (N, 2) float arrays, image coords) into a uint8 crop at ``box``."""
    x0, y0, x1, y1 = box
    out = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    pts = [np.round((p - (x0, y0)) * _SCALE).astype(np.int32) for p in polys]
    cv2.fillPoly(out, pts, value, lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)
    return out


def draw_poly(crop: np.ndarray, polys: list[np.ndarray], box, colour) -> None:
    """Fill polygons with ``colour`` directly into a float crop."""
    x0, y0 = box[:2]
    pts = [np.round((p - (x0, y0)) * _SCALE).astype(np.int32) for p in polys]
    cv2.fillPoly(crop, pts, tuple(float(c) for c in colour), lineType=cv2.LINE_AA, shift=_SUBPIXEL_BITS)


def draw_lines(crop: np.ndarray, segments: np.ndarray, box, colour, thickness: int = 1) -> None:
    """Draw segments (K, 2, 2) in image coords into a float crop."""
    x0, y0 = box[:2]
    for (ax, ay), (bx, by) in np.round((segments - (x0, y0)) * _SCALE).astype(np.int64):
        cv2.line(
            crop,
            (int(ax), int(ay)),
            (int(bx), int(by)),
            tuple(float(c) for c in colour),
            thickness,
            cv2.LINE_AA,
            _SUBPIXEL_BITS,
        )


def place(local: np.ndarray, centre: tuple[float, float], angle: float) -> np.ndarray:
    """Rotate local points (N, 2) by ``angle`` radians and move them to ``centre``."""
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    return local @ rot.T + np.asarray(centre)


def rect(w: float, h: float, x: float = 0.0, y: float = 0.0) -> np.ndarray:
    """Axis-aligned rectangle centred at (x, y) in local coordinates, as (4, 2)."""
    return np.array(
        [[x - w / 2, y - h / 2], [x + w / 2, y - h / 2], [x + w / 2, y + h / 2], [x - w / 2, y + h / 2]]
    )


def rounded_rect(w: float, h: float, r: float, steps: int = 5) -> np.ndarray:
    """Rectangle with circular corners of radius ``r`` centred at the origin."""
    r = min(r, w / 2, h / 2)
    pts = []
    for cx, cy, a0 in (
        (w / 2 - r, -h / 2 + r, -np.pi / 2),
        (w / 2 - r, h / 2 - r, 0.0),
        (-w / 2 + r, h / 2 - r, np.pi / 2),
        (-w / 2 + r, -h / 2 + r, np.pi),
    ):
        a = a0 + np.linspace(0, np.pi / 2, steps)
        pts.append(np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], axis=1))
    return np.concatenate(pts)


def shaded(rng: np.random.Generator, colour, box, strength: float = 0.15) -> np.ndarray:
    """A crop filled with ``colour`` times a random linear brightness ramp."""
    x0, y0, x1, y1 = box
    h, w = y1 - y0, x1 - x0
    gx, gy = rng.uniform(-strength, strength, size=2)
    ramp = (
        1.0
        + gx * np.linspace(-1, 1, w, dtype=np.float32)[None, :]
        + gy * np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    )
    return ramp[..., None] * np.asarray(colour, dtype=np.float32)


def finish(
    canvas: Canvas,
    rng: np.random.Generator,
    outline: np.ndarray,
    colour: np.ndarray,
    mask: np.ndarray,
    box,
    category: str,
    alpha: float = 1.0,
) -> int:
    """Shadow, darker rim (so touching look-alikes stay separable), then paste."""
    if rng.random() < 0.7:
        off = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
        canvas.shadow(mask, box, off, float(rng.uniform(0.2, 0.5)))
    x0, y0 = box[:2]
    rim = np.round((outline - (x0, y0)) * _SCALE).astype(np.int32)
    cv2.polylines(
        colour,
        [rim],
        True,
        tuple(float(c) for c in colour.mean(axis=(0, 1)) * 0.6),
        1,
        cv2.LINE_AA,
        _SUBPIXEL_BITS,
    )
    return canvas.paste(mask.astype(bool), colour, box, category, alpha)

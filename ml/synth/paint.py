"""Painting background things (racking, people, machines) onto a :class:`~ml.synth.objects.Canvas`.

Everything painted here is background: the pixels it covers are taken from any parcel
under them (owner 0), so a person in front of a carton hides that part of its mask.
Coordinates are image pixels (x right, y down); colours are RGB floats in 0..255.
"""

from __future__ import annotations

import cv2
import numpy as np

from ml.synth.objects import Canvas, fill

LIGHT = np.array([-0.35, -0.75, 0.55])  # towards the ceiling lamps: up and a little left
LIGHT /= np.linalg.norm(LIGHT)


def as_colour(colour) -> np.ndarray:
    return np.asarray(colour, dtype=np.float32)


def paint_poly(
    canvas: Canvas,
    polys: list[np.ndarray],
    colour,
    ramp: tuple[float, float] = (0.0, 0.0),
    texture: float = 0.0,
    rng: np.random.Generator | None = None,
) -> None:
    """Fill polygons (list of (N, 2)) with ``colour`` times a linear brightness ``ramp`` (gx, gy across
    the polygons' box), plus optional fine grain of relative ``texture`` amplitude."""
    pts = np.concatenate(polys)
    box = canvas.region(pts, margin=1)
    if box is None:
        return
    mask = fill(polys, box).astype(bool)
    if not mask.any():
        return
    x0, y0, x1, y1 = box
    h, w = y1 - y0, x1 - x0
    shade = (
        1.0
        + ramp[0] * np.linspace(-1, 1, w, dtype=np.float32)[None, :]
        + ramp[1] * np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    )
    if texture and rng is not None:
        shade = shade + texture * rng.standard_normal((h, w), dtype=np.float32)
    canvas.image[y0:y1, x0:x1][mask] = (shade[..., None] * as_colour(colour))[mask]
    canvas.owner[y0:y1, x0:x1][mask] = 0


def paint_tube(canvas: Canvas, p0, p1, radius: float, colour, shine: float = 0.3, caps: bool = True) -> None:
    """A shaded cylinder of ``radius`` px from ``p0`` to ``p1`` (round caps): limbs, rollers, pipes."""
    a, b = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
    radius = max(float(radius), 0.8)
    box = canvas.region(np.stack([a, b]), margin=int(np.ceil(radius)) + 1)
    if box is None:
        return
    x0, y0, x1, y1 = box
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    axis = b - a
    length = float(np.hypot(*axis))
    d = axis / length if length > 1e-6 else np.array([1.0, 0.0])
    perp = np.array([-d[1], d[0]])
    along = (xx - a[0]) * d[0] + (yy - a[1]) * d[1]
    across = ((xx - a[0]) * perp[0] + (yy - a[1]) * perp[1]) / radius
    if caps:
        end = np.clip(along, 0, length)
        dist = np.hypot((xx - a[0] - end * d[0]), (yy - a[1] - end * d[1])) / radius
        inside = dist <= 1.0
    else:
        inside = (np.abs(across) <= 1.0) & (along >= 0) & (along <= length)
    if not inside.any():
        return
    u = np.clip(across, -1, 1)
    nz = np.sqrt(1 - u**2)
    normal_x, normal_y = u * perp[0], u * perp[1]
    diffuse = np.clip(normal_x * LIGHT[0] + normal_y * LIGHT[1] + nz * LIGHT[2], 0, 1)
    half = LIGHT + np.array([0, 0, 1.0])
    half /= np.linalg.norm(half)
    spec = np.clip(normal_x * half[0] + normal_y * half[1] + nz * half[2], 0, 1) ** 24
    tone = (0.45 + 0.65 * diffuse)[..., None] * as_colour(colour) + (shine * 255 * spec)[..., None]
    canvas.image[y0:y1, x0:x1][inside] = tone[inside]
    canvas.owner[y0:y1, x0:x1][inside] = 0


def paint_disc(canvas: Canvas, centre, radius: float, colour, shine: float = 0.2) -> None:
    """A shaded sphere-like disc (joints, heads, knobs)."""
    paint_tube(canvas, centre, centre, radius, colour, shine)


def paint_lines(canvas: Canvas, points: np.ndarray, colour, thickness: int, closed: bool = False) -> None:
    """An antialiased polyline (N, 2) of ``thickness`` px; (K, N, 2) draws K polylines in one go."""
    pts = np.round(np.asarray(points) * 8).astype(np.int32)
    lines = list(pts) if pts.ndim == 3 else [pts]
    cv2.polylines(
        canvas.image, lines, closed, tuple(float(c) for c in colour), max(1, thickness), cv2.LINE_AA, 3
    )
    cv2.polylines(canvas.owner, lines, closed, 0, max(1, thickness), cv2.LINE_8, 3)


def darken(canvas: Canvas, polys: list[np.ndarray], amount: float, blur: int = 0) -> None:
    """Multiply the image under polygons by ``1 - amount`` (soft-edged with ``blur`` px): shadows, stains."""
    pts = np.concatenate(polys)
    margin = 2 * blur + 2
    box = canvas.region(pts, margin=margin)
    if box is None:
        return
    mask = np.asarray(fill(polys, box), dtype=np.float32)
    if blur > 0:
        mask = np.asarray(cv2.GaussianBlur(mask, (0, 0), blur), dtype=np.float32)
    x0, y0, x1, y1 = box
    canvas.image[y0:y1, x0:x1] *= (1.0 - amount * mask)[..., None]


def shade_down(canvas: Canvas, x0: float, y0: float, x1: float, y1: float, amount: float) -> None:
    """Darken the box by ``amount`` at its top edge, fading linearly to nothing at its bottom (the
    shadow under a shelf)."""
    box = canvas.region(quad(x0, y0, x1, y1), margin=0)
    if box is None:
        return
    bx0, by0, bx1, by1 = box
    ramp = 1.0 - amount * np.clip((y1 - np.arange(by0, by1, dtype=np.float32)) / max(y1 - y0, 1.0), 0, 1)
    canvas.image[by0:by1, bx0:bx1] *= ramp[:, None, None]


def bezier(p0, p1, p2, p3, steps: int = 24) -> np.ndarray:
    """Points (steps, 2) on a cubic Bezier curve: cables, hoses, tyre marks."""
    t = np.linspace(0, 1, steps)[:, None]
    pts = [np.asarray(p, dtype=np.float64) for p in (p0, p1, p2, p3)]
    return (1 - t) ** 3 * pts[0] + 3 * (1 - t) ** 2 * t * pts[1] + 3 * (1 - t) * t**2 * pts[2] + t**3 * pts[3]


def quad(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Axis-aligned rectangle (4, 2) from corner (x0, y0) to (x1, y1)."""
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)

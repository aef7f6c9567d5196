"""Warehouse fixtures seen by a camera facing them: pallets, totes, conveyors, barriers, floors
(racking is in :mod:`ml.synth.racking`).

Front views use :class:`View`, a one-point perspective: the camera faces a vertical "front
plane" (the face of the racking); a point drawn at (x, y) on that plane and ``depth`` px
behind it appears pulled towards the vanishing point. Everything here is background.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.synth.objects import Canvas
from ml.synth.paint import as_colour, bezier, darken, paint_lines, paint_poly, paint_tube, quad

WOOD = [(196, 160, 110), (172, 138, 92), (150, 135, 115), (205, 175, 130)]
SAFETY_YELLOW = (232, 196, 30)


@dataclass(frozen=True)
class View:
    """One-point perspective: vanishing point (vx, vy) px, camera ``dist`` px from the front plane."""

    vx: float
    vy: float
    dist: float

    def project(self, points: np.ndarray, depth: float) -> np.ndarray:
        """Front-plane points (N, 2) moved ``depth`` px away from the camera (negative: towards it)."""
        f = self.dist / max(self.dist + depth, 1e-3)
        vp = np.array([self.vx, self.vy])
        return vp + (np.asarray(points, dtype=np.float64) - vp) * f

    def slab(self, x0: float, y0: float, x1: float, y1: float, d0: float, d1: float) -> dict[str, np.ndarray]:
        """The faces of an axis-aligned box (front rectangle x0..x1, y0..y1, depths d0..d1) that
        the camera sees, projected, keyed "front", "top", "bottom", "left", "right"."""
        front = quad(x0, y0, x1, y1)
        p, q = self.project(front, d0), self.project(front, d1)
        faces = {"front": p}
        if p[0, 1] > self.vy:
            faces["top"] = np.array([p[0], p[1], q[1], q[0]])
        if p[2, 1] < self.vy:
            faces["bottom"] = np.array([p[3], p[2], q[2], q[3]])
        if p[1, 0] < self.vx:
            faces["right"] = np.array([p[1], p[2], q[2], q[1]])
        if p[0, 0] > self.vx:
            faces["left"] = np.array([p[0], p[3], q[3], q[0]])
        return faces


def paint_slab(
    canvas: Canvas,
    view: View,
    rect: tuple[float, float, float, float],
    depths: tuple[float, float],
    colour,
    rng: np.random.Generator,
    texture: float = 0.0,
) -> dict[str, np.ndarray]:
    """A lit box: top brightest, sides darker, front as ``colour``; returns the projected faces."""
    faces = view.slab(*rect, *depths)
    gain = {"top": 1.12, "bottom": 0.45, "left": 0.7, "right": 0.7}
    for name, face in faces.items():
        if name != "front":
            paint_poly(canvas, [face], as_colour(colour) * gain[name], texture=texture, rng=rng)
    paint_poly(
        canvas,
        [faces["front"]],
        colour,
        ramp=(0.0, float(rng.uniform(-0.12, 0.05))),
        texture=texture,
        rng=rng,
    )
    return faces


def paint_pallet_front(
    canvas: Canvas,
    rng: np.random.Generator,
    view: View,
    x0: float,
    x1: float,
    floor_y: float,
    depths: tuple[float, float],
    colour=None,
) -> float:
    """A pallet seen from its entry side (deck boards, blocks and fork openings); returns its top y."""
    colour = as_colour(WOOD[int(rng.integers(len(WOOD)))] if colour is None else colour) * rng.uniform(
        0.85, 1.1
    )
    h = (x1 - x0) * rng.uniform(0.11, 0.14)
    board = h * 0.2
    top = floor_y - h
    paint_slab(canvas, view, (x0, top, x1, top + board), depths, colour, rng, 0.04)
    darken(canvas, [view.project(quad(x0, top + board, x1, floor_y - board), depths[0])], 0.75)
    for k in range(3):
        bx = x0 + k * (x1 - x0) / 2 - (x1 - x0) * 0.07 * (k / 2)
        paint_poly(
            canvas,
            [view.project(quad(bx, top + board, bx + (x1 - x0) * 0.07, floor_y - board), depths[0])],
            colour * 0.9,
            texture=0.05,
            rng=rng,
        )
    paint_poly(
        canvas,
        [view.project(quad(x0, floor_y - board, x1, floor_y), depths[0])],
        colour * 0.95,
        texture=0.04,
        rng=rng,
    )
    return top


def paint_tote_front(
    canvas: Canvas,
    rng: np.random.Generator,
    view: View,
    rect: tuple[float, float, float, float],
    depths: tuple[float, float],
    colour,
) -> None:
    """An empty plastic tote: moulded ribs, a rolled lip, a hand slot, and its dark open inside."""
    colour = as_colour(colour)
    faces = paint_slab(canvas, view, rect, depths, colour, rng)
    if "top" in faces:
        top = faces["top"]
        darken(canvas, [top * 0.84 + top.mean(axis=0) * 0.16], 0.6)
    (fx0, fy0), (fx1, fy1) = faces["front"][0], faces["front"][2]
    w, h = fx1 - fx0, fy1 - fy0
    ribs = fx0 + w * np.linspace(0.06, 0.94, int(rng.integers(5, 10)))
    paint_lines(
        canvas,
        np.stack(
            [
                np.stack([ribs, np.full_like(ribs, fy0 + h * 0.2)], 1),
                np.stack([ribs, np.full_like(ribs, fy1 - h * 0.05)], 1),
            ],
            1,
        ),
        colour * 0.72,
        1,
    )
    paint_poly(
        canvas, [quad(fx0, fy0, fx1, fy0 + h * 0.14)], np.minimum(colour * 1.2 + 10, 255), ramp=(0, -0.2)
    )
    slot_w, slot_h = w * rng.uniform(0.15, 0.25), h * 0.08
    cx = fx0 + w / 2
    paint_poly(
        canvas, [quad(cx - slot_w / 2, fy0 + h * 0.2, cx + slot_w / 2, fy0 + h * 0.2 + slot_h)], colour * 0.2
    )


def paint_conveyor_front(
    canvas: Canvas,
    rng: np.random.Generator,
    view: View,
    x0: float,
    x1: float,
    top_y: float,
    floor_y: float,
    depths: tuple[float, float],
) -> None:
    """A roller or belt conveyor running across the picture: legs, side frame, rollers or belt on top."""
    frame = as_colour([(150, 155, 160), (40, 90, 160), (60, 120, 70), (200, 200, 195)][int(rng.integers(4))])
    frame_h = (floor_y - top_y) * rng.uniform(0.12, 0.2)
    span = x1 - x0
    for lx in np.linspace(x0 + span * 0.03, x1 - span * 0.06, max(2, int(span / (frame_h * 6)))):
        paint_slab(
            canvas,
            view,
            (lx, top_y, lx + frame_h * 0.35, floor_y),
            (depths[0] + 2, depths[0] + 8),
            frame * 0.8,
            rng,
        )
    faces = view.slab(x0, top_y, x1, top_y + frame_h * 0.3, depths[0], depths[1])
    if "top" in faces:
        if rng.random() < 0.55:
            pitch = frame_h * rng.uniform(0.35, 0.6)
            for rx in (
                np.arange(x0 + pitch / 2, x1, pitch)[::-1]
                if view.vx < x0
                else np.arange(x0 + pitch / 2, x1, pitch)
            ):
                a = view.project(np.array([[rx, top_y]]), depths[0] + 2)[0]
                b = view.project(np.array([[rx, top_y]]), depths[1] - 2)[0]
                paint_tube(canvas, a, b, pitch * 0.33, (175, 178, 182), shine=0.5, caps=False)
        else:
            paint_poly(canvas, [faces["top"]], (55, 55, 58), texture=0.05, rng=rng)
    paint_slab(
        canvas,
        view,
        (x0, top_y - frame_h * 0.15, x1, top_y + frame_h),
        (depths[0], depths[0] + 3),
        frame,
        rng,
    )


def paint_guard_rail(
    canvas: Canvas, rng: np.random.Generator, x0: float, x1: float, floor_y: float, height: float
) -> None:
    """Yellow tubular guard rail with posts (close to the camera, so no perspective)."""
    r = height * rng.uniform(0.05, 0.08)
    colour = SAFETY_YELLOW if rng.random() < 0.8 else (210, 40, 35)
    for px in np.linspace(x0, x1, max(2, int((x1 - x0) / (height * 1.6)) + 1)):
        paint_tube(canvas, (px, floor_y), (px, floor_y - height), r * 1.2, colour, 0.35)
    for k in range(int(rng.integers(1, 3))):
        y = floor_y - height * (0.95 - 0.45 * k)
        paint_tube(canvas, (x0, y), (x1, y), r, colour, 0.35)


def paint_bollard(canvas: Canvas, rng: np.random.Generator, x: float, floor_y: float, height: float) -> None:
    """A black-and-yellow striped safety post."""
    r = height * rng.uniform(0.1, 0.16)
    bands = int(rng.integers(4, 8))
    for k in range(bands):
        y0 = floor_y - height * k / bands
        paint_tube(
            canvas,
            (x, y0),
            (x, y0 - height / bands),
            r,
            SAFETY_YELLOW if k % 2 else (30, 30, 32),
            0.3,
            caps=k == bands - 1,
        )


def paint_fence(
    canvas: Canvas, rng: np.random.Generator, x0: float, x1: float, top: float, floor_y: float
) -> None:
    """Machine-guard mesh panels: yellow posts, dark frame, a see-through wire grid."""
    cell = max(4.0, (floor_y - top) * rng.uniform(0.03, 0.06))
    grid = (40, 40, 42) if rng.random() < 0.7 else (200, 200, 200)
    for gx in np.arange(x0, x1, cell):
        paint_lines(canvas, np.array([[gx, top], [gx, floor_y]]), grid, 1)
    for gy in np.arange(top, floor_y, cell):
        paint_lines(canvas, np.array([[x0, gy], [x1, gy]]), grid, 1)
    post = SAFETY_YELLOW if rng.random() < 0.7 else (40, 40, 42)
    frame_w = cell * 0.6
    for edge in (top, floor_y - frame_w):
        paint_poly(canvas, [quad(x0, edge, x1, edge + frame_w)], post, ramp=(0, -0.2))
    panel = (floor_y - top) * rng.uniform(0.6, 1.0)
    for px in np.arange(x0, x1 + 1, panel):
        paint_poly(canvas, [quad(px - frame_w, top - frame_w, px + frame_w, floor_y)], post, ramp=(0.3, 0))


def paint_cone(canvas: Canvas, rng: np.random.Generator, x: float, floor_y: float, height: float) -> None:
    """An orange traffic cone with white reflective bands."""
    w = height * 0.32
    paint_poly(
        canvas,
        [
            np.array(
                [
                    [x - w, floor_y - height * 0.12],
                    [x + w, floor_y - height * 0.12],
                    [x + w * 1.1, floor_y],
                    [x - w * 1.1, floor_y],
                ]
            )
        ],
        (40, 40, 40),
    )
    cone = np.array(
        [
            [x - w * 0.15, floor_y - height],
            [x + w * 0.15, floor_y - height],
            [x + w * 0.85, floor_y - height * 0.12],
            [x - w * 0.85, floor_y - height * 0.12],
        ]
    )
    paint_poly(canvas, [cone], (245, 100, 25), ramp=(0.3, 0))
    for t0 in (0.35, 0.6):
        band = cone.copy()
        band[:2, 1] = floor_y - height * (1 - t0)
        band[2:, 1] = floor_y - height * (1 - t0 - 0.12)
        band[[0, 3], 0] = x - w * (0.15 + 0.7 * np.array([t0, t0 + 0.12]))
        band[[1, 2], 0] = x + w * (0.15 + 0.7 * np.array([t0, t0 + 0.12]))
        paint_poly(canvas, [band], (235, 235, 230))


def paint_cable(canvas: Canvas, rng: np.random.Generator, start, end, sag: float) -> None:
    """A loose cable or hose: a Bezier curve with a highlight along it."""
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    c1 = start + (end - start) * 0.3 + rng.normal(0, sag, 2)
    c2 = start + (end - start) * 0.7 + rng.normal(0, sag, 2)
    pts = bezier(start, c1, c2, end, 32)
    colour = as_colour(
        [(25, 25, 28), (60, 60, 65), (230, 120, 30), (220, 190, 40), (40, 70, 150)][int(rng.integers(5))]
    )
    thick = int(rng.integers(2, 8))
    paint_lines(canvas, pts, colour, thick)
    if thick > 2:
        paint_lines(canvas, pts - thick * 0.25, np.minimum(colour * 1.6 + 30, 255), 1)


def paint_floor(
    canvas: Canvas, rng: np.random.Generator, polygon: np.ndarray, markings: list[np.ndarray]
) -> None:
    """Concrete or epoxy floor inside ``polygon`` with painted ``markings`` (polygons) and stains."""
    if rng.random() < 0.7:
        base = as_colour([rng.uniform(120, 180)] * 3) * np.array([1.0, 0.99, 0.95])
    else:
        base = as_colour([(120, 135, 120), (110, 115, 125), (150, 110, 90)][int(rng.integers(3))])
    paint_poly(
        canvas,
        [polygon],
        base,
        ramp=(float(rng.uniform(-0.1, 0.1)), float(rng.uniform(0, 0.15))),
        texture=0.035,
        rng=rng,
    )
    paint_colour = as_colour(SAFETY_YELLOW if rng.random() < 0.7 else (235, 235, 225)) * rng.uniform(0.8, 1.0)
    for mark in markings:
        paint_poly(canvas, [mark], paint_colour, texture=0.06, rng=rng)
    lo, hi = polygon.min(axis=0), polygon.max(axis=0)
    for _k in range(int(rng.integers(0, 6))):  # oil and water stains, tyre marks
        centre = rng.uniform(lo, hi)
        if rng.random() < 0.6:
            phi = np.linspace(0, 2 * np.pi, 16, endpoint=False)
            radius = rng.uniform(0.02, 0.08) * (hi[0] - lo[0]) * (1 + 0.3 * rng.standard_normal(16))
            blob = centre + np.stack([np.cos(phi), np.sin(phi) * rng.uniform(0.3, 0.8)], 1) * radius[:, None]
            darken(canvas, [blob], float(rng.uniform(0.1, 0.35)), blur=3)
        else:
            end = centre + rng.normal(0, 0.3, 2) * (hi - lo)
            pts = bezier(centre, centre + rng.normal(0, 40, 2), end + rng.normal(0, 40, 2), end)
            darken(canvas, [np.concatenate([pts, pts[::-1] + 4])], float(rng.uniform(0.05, 0.2)), blur=2)

"""Package-free scenes seen from a ceiling camera: floors, empty conveyors, pallets, totes, people, arms."""

from __future__ import annotations

import numpy as np

from ml.synth import backgrounds
from ml.synth.figures import paint_person_above, paint_robot_above
from ml.synth.fixtures import SAFETY_YELLOW, WOOD, paint_cable
from ml.synth.objects import Canvas, place, rect
from ml.synth.paint import as_colour, darken, paint_lines, paint_poly, paint_tube, quad


def paint_floor_above(canvas: Canvas, rng: np.random.Generator) -> None:
    """Concrete or epoxy floor with expansion joints, painted lanes, a hatched zone and stains."""
    height, width = canvas.size
    scale = min(height, width)
    canvas.image[:] = backgrounds.concrete(rng, height, width)
    if rng.random() < 0.3:  # epoxy: a coloured, smoother coat
        canvas.image *= as_colour(
            [(0.8, 0.95, 0.8), (0.85, 0.85, 0.95), (1.0, 0.85, 0.75)][int(rng.integers(3))]
        )
    pitch = scale * rng.uniform(0.3, 0.9)
    for x in np.arange(rng.uniform(0, pitch), width, pitch):  # saw-cut joints
        paint_lines(canvas, np.array([[x, 0], [x + rng.normal(0, 3), height]]), canvas.image[0, 0] * 0.55, 1)
    for y in np.arange(rng.uniform(0, pitch), height, pitch):
        paint_lines(canvas, np.array([[0, y], [width, y + rng.normal(0, 3)]]), canvas.image[0, 0] * 0.55, 1)
    paint = as_colour(SAFETY_YELLOW if rng.random() < 0.7 else (235, 235, 228)) * rng.uniform(0.8, 1.0)
    for _k in range(int(rng.integers(0, 3))):  # lane lines
        w = scale * rng.uniform(0.02, 0.05)
        if rng.random() < 0.5:
            x = rng.uniform(0, width)
            paint_poly(canvas, [quad(x, -5, x + w, height + 5)], paint, texture=0.05, rng=rng)
        else:
            y = rng.uniform(0, height)
            paint_poly(canvas, [quad(-5, y, width + 5, y + w)], paint, texture=0.05, rng=rng)
    if rng.random() < 0.3:  # hatched keep-clear zone
        x0, y0 = rng.uniform(0, 0.6, size=2) * (width, height)
        _hatch(
            canvas,
            quad(x0, y0, x0 + rng.uniform(0.2, 0.5) * width, y0 + rng.uniform(0.2, 0.5) * height),
            scale * rng.uniform(0.04, 0.08),
        )
    for _k in range(int(rng.integers(1, 6))):  # stains and tyre marks
        centre = rng.uniform(0, 1, size=2) * (width, height)
        phi = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        radius = scale * rng.uniform(0.02, 0.12) * (1 + 0.3 * rng.standard_normal(16))
        blob = centre + np.stack([np.cos(phi), np.sin(phi) * rng.uniform(0.3, 1.0)], 1) * radius[:, None]
        darken(canvas, [blob], float(rng.uniform(0.08, 0.35)), blur=int(scale * 0.01) + 1)


def _hatch(canvas: Canvas, area: np.ndarray, step: float) -> None:
    """Yellow and black diagonal stripes filling the axis-aligned rectangle ``area``."""
    box = canvas.region(area, margin=0)
    if box is None:
        return
    x0, y0, x1, y1 = box
    yy, xx = np.mgrid[y0:y1, x0:x1]
    stripe = (((xx + yy) / step).astype(np.int64) % 2 == 0)[..., None]
    canvas.image[y0:y1, x0:x1] = np.where(stripe, as_colour(SAFETY_YELLOW), as_colour((30, 30, 30)))
    canvas.owner[y0:y1, x0:x1] = 0


def paint_tote_above(canvas: Canvas, rng: np.random.Generator, centre, size: float, angle: float) -> None:
    """An empty plastic tote from above: a lit rim around its darker floor."""
    colour = as_colour(
        [(40, 80, 160), (60, 60, 65), (150, 150, 155), (200, 60, 40), (230, 190, 40)][int(rng.integers(5))]
    )
    w, h = size, size * rng.uniform(0.6, 0.8)
    darken(canvas, [place(rect(w, h), (centre[0] + 4, centre[1] + 4), angle)], 0.4, blur=3)
    paint_poly(canvas, [place(rect(w, h), centre, angle)], colour * 1.1, ramp=(0.1, 0.1))
    paint_poly(canvas, [place(rect(w * 0.86, h * 0.8), centre, angle)], colour * 0.75, ramp=(-0.2, -0.2))
    paint_poly(canvas, [place(rect(w * 0.78, h * 0.7), centre, angle)], colour * 0.6, texture=0.03, rng=rng)


def paint_cage_above(canvas: Canvas, rng: np.random.Generator, centre, size: float, angle: float) -> None:
    """An empty roll cage or trolley from above: a metal frame with a wire or slatted base."""
    w, h = size, size * rng.uniform(0.6, 0.9)
    metal = as_colour((170, 172, 175)) * rng.uniform(0.7, 1.1)
    darken(canvas, [place(rect(w, h), centre, angle)], 0.25)
    for x in np.linspace(-w / 2, w / 2, int(rng.integers(4, 9))):
        paint_lines(canvas, place(np.array([[x, -h / 2], [x, h / 2]]), centre, angle), metal, 1)
    for y in np.linspace(-h / 2, h / 2, int(rng.integers(3, 7))):
        paint_lines(canvas, place(np.array([[-w / 2, y], [w / 2, y]]), centre, angle), metal, 1)
    corners = place(rect(w, h), centre, angle)
    paint_lines(canvas, corners, metal * 1.1, max(2, int(size * 0.03)), closed=True)
    for c in corners:
        paint_tube(canvas, c, c, size * 0.03, metal, 0.5)


def paint_conveyor_above(
    canvas: Canvas, rng: np.random.Generator, centre, length: float, span: float, angle: float
) -> None:
    """An empty roller or belt conveyor from above: side frames and rollers across the travel direction."""
    frame = as_colour([(150, 155, 160), (40, 90, 160), (60, 120, 70), (200, 200, 195)][int(rng.integers(4))])
    rail = span * rng.uniform(0.06, 0.12)
    if rng.random() < 0.6:
        pitch = span * rng.uniform(0.08, 0.16)
        for t in np.arange(-length / 2, length / 2, pitch):
            ends = place(np.array([[t, -span / 2], [t, span / 2]]), centre, angle)
            paint_tube(canvas, ends[0], ends[1], pitch * 0.38, (170, 172, 176), 0.55, caps=False)
    else:
        paint_poly(canvas, [place(rect(length, span), centre, angle)], (50, 50, 52), texture=0.05, rng=rng)
    for side in (-1, 1):
        paint_poly(
            canvas,
            [place(rect(length, rail, 0, side * (span + rail) / 2), centre, angle)],
            frame,
            ramp=(0, 0.2 * side),
        )


def paint_pallet_above(canvas: Canvas, rng: np.random.Generator, centre, size: float, angle: float) -> None:
    """An empty pallet from above: deck boards over darker stringers, gaps between them."""
    wood = as_colour(WOOD[int(rng.integers(len(WOOD)))]) * rng.uniform(0.8, 1.1)
    if rng.random() < 0.2:
        wood = as_colour((40, 90, 165))  # a pooled blue pallet
    w, h = size, size * rng.uniform(0.65, 0.85)
    darken(canvas, [place(rect(w, h), centre, angle)], 0.55, blur=2)
    for k in (-1, 0, 1):
        paint_poly(canvas, [place(rect(w, h * 0.1, 0, k * h * 0.42), centre, angle)], wood * 0.7)
    boards = int(rng.integers(5, 8))
    bw = w / boards * rng.uniform(0.55, 0.8)
    for x in np.linspace(-w / 2 + bw / 2, w / 2 - bw / 2, boards):
        paint_poly(
            canvas,
            [place(rect(bw, h, x, 0), centre, angle)],
            wood * rng.uniform(0.85, 1.1),
            texture=0.06,
            rng=rng,
        )


def render_overhead(rng: np.random.Generator, height: int, width: int) -> Canvas:
    """A ceiling camera's view of a spot with no package on it, with the clutter around it."""
    scale = min(height, width)
    ground = rng.choice(4, p=[0.5, 0.2, 0.15, 0.15])
    base = {1: backgrounds.conveyor, 2: backgrounds.tote, 3: backgrounds.pallet}.get(int(ground))
    canvas = Canvas(np.zeros((height, width, 3), np.float32))
    if base is None:
        paint_floor_above(canvas, rng)
    else:
        canvas.image[:] = base(rng, height, width)
    things = rng.permutation(
        ["conveyor", "pallet", "person", "robot", "cable", "cable", "tote", "cage", "person"]
    )
    for thing in things[: int(rng.integers(1, 6))]:
        at = rng.uniform(0.1, 0.9, size=2) * (width, height)
        if thing == "conveyor" and ground == 0:
            paint_conveyor_above(
                canvas,
                rng,
                at,
                scale * rng.uniform(0.8, 2.0),
                scale * rng.uniform(0.2, 0.45),
                float(rng.choice([0, np.pi / 2]) + rng.normal(0, 0.05)),
            )
        elif thing == "pallet" and ground != 2:
            paint_pallet_above(canvas, rng, at, scale * rng.uniform(0.35, 0.8), float(rng.normal(0, 0.3)))
        elif thing == "tote" and ground != 2:
            for _k in range(int(rng.integers(1, 4))):
                paint_tote_above(
                    canvas,
                    rng,
                    at + rng.normal(0, scale * 0.15, 2),
                    scale * rng.uniform(0.2, 0.4),
                    float(rng.normal(0, 0.2)),
                )
        elif thing == "cage":
            paint_cage_above(canvas, rng, at, scale * rng.uniform(0.3, 0.7), float(rng.normal(0, 0.3)))
        elif thing == "person":
            paint_person_above(canvas, rng, at, scale * rng.uniform(0.15, 0.3))
        elif thing == "robot":
            paint_robot_above(canvas, rng, at, scale * rng.uniform(0.3, 0.7))
        elif thing == "cable":
            end = rng.uniform(-0.1, 1.1, size=2) * (width, height)
            paint_cable(canvas, rng, at, end, scale * 0.2)
    return canvas

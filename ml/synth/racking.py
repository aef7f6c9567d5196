"""Racking and shelving seen from the front (``fixtures.View``): uprights, beams, decking, stock
labels. Background only; a warehouse scene stocks it with parcels (``warehouse``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.synth.fixtures import SAFETY_YELLOW, View
from ml.synth.objects import Canvas
from ml.synth.paint import as_colour, paint_lines, paint_poly, quad

UPRIGHT_COLOURS = [
    (28, 78, 160),
    (22, 60, 125),
    (40, 95, 175),
    (150, 155, 160),
    (38, 105, 70),
    (235, 120, 25),
]
BEAM_COLOURS = [(238, 112, 22), (225, 95, 15), (230, 190, 35), (28, 78, 160), (200, 70, 30)]


@dataclass(frozen=True)
class Rack:
    """Pallet racking or shelving: upright left edges, beam tops (front plane y, floor excluded), sizes."""

    view: View
    uprights: tuple[float, ...]
    upright_w: float
    levels: tuple[float, ...]
    beam_h: float
    depth: float
    floor_y: float
    upright_colour: tuple[float, ...]
    beam_colour: tuple[float, ...]
    deck: str  # "mesh", "board" or "open"

    def bays(self) -> list[tuple[float, float]]:
        """Clear width of each bay as (x0, x1) between uprights."""
        return [(a + self.upright_w, b) for a, b in zip(self.uprights[:-1], self.uprights[1:], strict=True)]

    def shelves(self) -> list[tuple[float, float]]:
        """Each storage level as (y_floor_of_level, y_clear_top) on the front plane, bottom first."""
        tops = [self.floor_y, *self.levels]
        return [
            (tops[i], (tops[i + 1] + self.beam_h) if i + 1 < len(tops) else -1e4) for i in range(len(tops))
        ]


def make_rack(
    rng: np.random.Generator,
    view: View,
    height: int,
    width: int,
    bay_share: tuple[float, float],
    level_share: tuple[float, float],
) -> Rack:
    """Random racking in front of the camera: bays ``bay_share`` x width wide, levels ``level_share`` x bay."""
    scale = min(height, width)
    bay = width * rng.uniform(*bay_share)
    upright_w = scale * rng.uniform(0.02, 0.045)
    start = -rng.uniform(0, bay)
    uprights = tuple(
        start + k * (bay + upright_w) for k in range(int((width - start) // (bay + upright_w)) + 2)
    )
    floor_y = height * rng.uniform(0.8, 1.5)
    level = bay * rng.uniform(*level_share)
    beam_h = scale * rng.uniform(0.025, 0.05)
    levels, y = [], floor_y
    while y > -level:
        y -= level * rng.uniform(0.85, 1.15)
        levels.append(y)
    colour = UPRIGHT_COLOURS[int(rng.integers(len(UPRIGHT_COLOURS)))]
    beam = BEAM_COLOURS[int(rng.integers(len(BEAM_COLOURS)))]
    deck = ["mesh", "board", "open"][int(rng.choice(3, p=[0.45, 0.2, 0.35]))]
    return Rack(
        view,
        uprights,
        upright_w,
        tuple(levels),
        beam_h,
        bay * rng.uniform(0.3, 0.5),
        floor_y,
        tuple(float(c) for c in as_colour(colour) * rng.uniform(0.85, 1.1)),
        tuple(float(c) for c in as_colour(beam) * rng.uniform(0.85, 1.1)),
        deck,
    )


def paint_rack_back(canvas: Canvas, rng: np.random.Generator, rack: Rack) -> None:
    """What lies behind the stored goods: rear uprights and beams, decks, upright side frames."""
    view, d = rack.view, rack.depth
    dim = 0.7
    for x in rack.uprights:
        paint_poly(
            canvas,
            [view.project(quad(x, -1e4, x + rack.upright_w, rack.floor_y), d)],
            as_colour(rack.upright_colour) * dim,
        )
    for x0, x1 in rack.bays():
        for y in rack.levels:
            paint_poly(
                canvas, [view.project(quad(x0, y, x1, y + rack.beam_h), d)], as_colour(rack.beam_colour) * dim
            )
            faces = view.slab(x0, y, x1, y + rack.beam_h * 0.4, 0, d)
            if "top" in faces and rack.deck != "open":
                deck_colour = (165, 168, 170) if rack.deck == "mesh" else (185, 155, 115)
                paint_poly(canvas, [faces["top"]], deck_colour, ramp=(0, 0.1), texture=0.03, rng=rng)
                if rack.deck == "mesh":
                    _mesh(canvas, faces["top"], max(4, int((x1 - x0) / 14)), 3)
            elif "bottom" in faces:
                under = [faces["bottom"]] if rack.deck != "open" else []
                for face in under:
                    paint_poly(canvas, [face], (70, 70, 72), texture=0.04, rng=rng)
    for x in rack.uprights:  # side frames facing the camera, with their diagonal bracing
        for edge, name in ((x + rack.upright_w, "right"), (x, "left")):
            faces = view.slab(x, -1e4, x + rack.upright_w, rack.floor_y, 0, d)
            if name not in faces:
                continue
            paint_poly(canvas, [faces[name]], as_colour(rack.upright_colour) * 0.6)
            steps = np.arange(rack.floor_y, -rack.floor_y, -(d * 1.1))
            pts = np.array([view.project(np.array([[edge, y]]), d * (i % 2))[0] for i, y in enumerate(steps)])
            if len(pts) > 1:
                paint_lines(
                    canvas, pts, as_colour(rack.upright_colour) * 0.8, max(1, int(rack.upright_w * 0.25))
                )


def paint_rack_front(canvas: Canvas, rng: np.random.Generator, rack: Rack) -> None:
    """Front beams with location labels, then the uprights with their slot punching and protectors."""
    for x0, x1 in rack.bays():
        for y in rack.levels:
            beam = quad(x0, y, x1, y + rack.beam_h)
            paint_poly(canvas, [beam], rack.beam_colour, ramp=(float(rng.uniform(-0.06, 0.06)), -0.15))
            paint_lines(canvas, np.array([[x0, y + 1], [x1, y + 1]]), as_colour(rack.beam_colour) * 1.18, 1)
            for _k in range(int(rng.integers(0, 4))):
                _location_label(canvas, rng, x0 + rng.uniform(0.05, 0.85) * (x1 - x0), y, rack.beam_h)
    w = rack.upright_w
    pitch = max(3.0, w * 0.9)
    for x in rack.uprights:
        paint_poly(canvas, [quad(x, -1e4, x + w, rack.floor_y)], rack.upright_colour, ramp=(0.25, 0.0))
        box = canvas.region(quad(x, 0, x + w, rack.floor_y), margin=0)
        if box is not None:  # teardrop slots punched down the face
            x0, y0, x1, y1 = box
            rows = (np.arange(y0, y1) % pitch) < pitch * 0.45
            cols = np.abs(np.arange(x0, x1) - (x + w * 0.5)) < max(0.6, w * 0.14)
            slot = rows[:, None] & cols[None, :]
            canvas.image[y0:y1, x0:x1][slot] *= 0.35
        if rng.random() < 0.4:  # column guard at the foot
            guard = quad(x - w * 0.3, rack.floor_y - w * 5, x + w * 1.3, rack.floor_y)
            paint_poly(canvas, [guard], SAFETY_YELLOW, ramp=(0.2, 0.0))
            for k in range(0, 5, 2):
                stripe = guard.copy()
                stripe[:, 1] = np.clip(stripe[:, 1], rack.floor_y - w * (k + 1), rack.floor_y - w * k)
                paint_poly(canvas, [stripe], (30, 30, 30))


def _location_label(canvas: Canvas, rng: np.random.Generator, x: float, y: float, beam_h: float) -> None:
    """A bin location label on a beam: white or yellow card, a barcode and a few characters."""
    w, h = beam_h * rng.uniform(1.6, 3.0), beam_h * 0.7
    top = y + beam_h * 0.15
    paint_poly(
        canvas, [quad(x, top, x + w, top + h)], (240, 238, 230) if rng.random() < 0.7 else (240, 215, 60)
    )
    bars = x + w * 0.08 + np.cumsum(rng.uniform(0.02, 0.07, size=14)) * w * 0.55
    bars = bars[bars < x + w * 0.6]
    paint_lines(
        canvas,
        np.stack(
            [
                np.stack([bars, np.full_like(bars, top + h * 0.2)], 1),
                np.stack([bars, np.full_like(bars, top + h * 0.8)], 1),
            ],
            1,
        ),
        (20, 20, 20),
        1,
    )
    paint_lines(
        canvas,
        np.array([[x + w * 0.65, top + h * 0.5], [x + w * 0.92, top + h * 0.5]]),
        (30, 30, 30),
        max(1, int(h * 0.35)),
    )


def _mesh(canvas: Canvas, face: np.ndarray, n: int, m: int) -> None:
    """Wire-mesh decking lines across a projected quad (corners front-left, front-right, back-right, back-left)."""
    colour = (120, 122, 125)
    for t in np.linspace(0, 1, n + 1):
        paint_lines(
            canvas,
            np.array([face[0] + t * (face[1] - face[0]), face[3] + t * (face[2] - face[3])]),
            colour,
            1,
        )
    for t in np.linspace(0, 1, m + 1):
        paint_lines(
            canvas,
            np.array([face[0] + t * (face[3] - face[0]), face[1] + t * (face[2] - face[1])]),
            colour,
            1,
        )

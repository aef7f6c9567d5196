"""What stands on racking and shelving (``racking.Rack``): carton rows, pallet loads, and what an emptied
bay still holds. ``warehouse`` builds its scenes around ``stock``."""

from __future__ import annotations

import numpy as np

from ml.synth.cartons import CartonLook, carton_look, paint_carton, shipper_look
from ml.synth.fixtures import View, paint_pallet_front, paint_tote_front
from ml.synth.objects import Canvas
from ml.synth.paint import shade_down
from ml.synth.racking import Rack

TOTE_COLOURS = [(40, 80, 160), (60, 60, 65), (150, 150, 155), (200, 60, 40), (230, 190, 40)]


def _carton_row(
    canvas: Canvas,
    rng: np.random.Generator,
    view: View,
    bay: tuple[float, float],
    floor_y: float,
    clear_top: float,
    depths: tuple[float, float],
    looks: list[CartonLook],
    light: float,
) -> None:
    """Cartons side by side (some stacked) on one shelf between ``bay`` x limits, from ``floor_y`` up."""
    x0, x1 = bay
    width, clear = x1 - x0, floor_y - clear_top
    cartons: list[tuple[tuple[float, float, float, float], tuple[float, float], CartonLook, int]] = []
    x = x0 + rng.uniform(0, 0.04) * width
    while x < x1 - width * 0.06:
        if rng.random() < 0.1:  # a gap where stock was picked
            x += width * rng.uniform(0.08, 0.25)
            continue
        look = looks[int(rng.integers(len(looks)))]
        w = min(width * rng.uniform(0.12, 0.4), x1 - x)
        h = clear * rng.uniform(0.3, 0.88)
        d0 = depths[0] + rng.uniform(0, 0.1) * (depths[1] - depths[0])
        d1 = d0 + (depths[1] - d0) * rng.uniform(0.4, 1.0)
        tiers = 1 + int(h * 2 < clear and rng.random() < 0.7) + int(h * 3 < clear and rng.random() < 0.4)
        for k in range(tiers):
            cartons.append(((x, floor_y - h * (k + 1), x + w, floor_y - h * k), (d0, d1), look, k))
        x += w + width * rng.uniform(0.0, 0.02)
    cartons.sort(key=lambda c: (-abs((c[0][0] + c[0][2]) / 2 - view.vx), c[3]))
    for rect, d, look, _k in cartons:
        paint_carton(canvas, rng, view, rect, d, look, light)


def _pallet_load(
    canvas: Canvas,
    rng: np.random.Generator,
    view: View,
    span: tuple[float, float],
    floor_y: float,
    clear_top: float,
    depth: float,
    look: CartonLook | None,
    light: float,
) -> None:
    """A pallet at the front of a level; with ``look``, a block of cartons (back layer, then front) on it."""
    x0, x1 = span
    d0 = depth * rng.uniform(0.0, 0.08)
    top = paint_pallet_front(canvas, rng, view, x0, x1, floor_y, (d0, d0 + depth * 0.9))
    if look is None:
        return
    cols = int(rng.integers(2, 5))
    rows = max(1, min(int(rng.integers(1, 5)), int((top - clear_top) / ((x1 - x0) / cols * 0.5))))
    h = min((top - clear_top) * rng.uniform(0.7, 0.95) / rows, (x1 - x0) / cols * 1.2)
    w = (x1 - x0) / cols
    layer = depth * rng.uniform(0.3, 0.45)
    for start in (d0 + layer, d0):
        for r in range(rows - 1 if start > d0 else 0, rows):  # of the back layer only the top row can show
            order = sorted(range(cols), key=lambda c: -abs(x0 + (c + 0.5) * w - view.vx))
            for c in order:
                if r == rows - 1 and rng.random() < 0.15:
                    continue
                rect = (x0 + c * w + 0.5, top - h * (r + 1), x0 + (c + 1) * w - 0.5, top - h * r)
                paint_carton(canvas, rng, view, rect, (start, start + layer), look, light)


def _empty_bay_contents(
    canvas: Canvas,
    rng: np.random.Generator,
    view: View,
    bay: tuple[float, float],
    floor_y: float,
    clear_top: float,
    depth: float,
) -> None:
    """What an emptied bay may still hold: empty pallets, a stack of them, or empty totes."""
    x0, x1 = bay
    draw = rng.random()
    if draw < 0.35:
        x = x0 + (x1 - x0) * rng.uniform(0, 0.5)
        stack = int(rng.integers(1, 8))
        y = floor_y
        for _k in range(stack):
            y = paint_pallet_front(
                canvas, rng, view, x, x + (x1 - x0) * rng.uniform(0.4, 0.5), y, (2, depth * 0.9)
            )
            if y < clear_top:
                break
    elif draw < 0.6:
        colour = TOTE_COLOURS[int(rng.integers(len(TOTE_COLOURS)))]
        w = (x1 - x0) * rng.uniform(0.18, 0.3)
        h = min(w * 0.6, (floor_y - clear_top) * 0.8)
        for x in np.arange(x0 + 2, x1 - w, w * 1.05):
            if rng.random() < 0.75:
                paint_tote_front(
                    canvas, rng, view, (x, floor_y - h, x + w, floor_y), (2, depth * 0.8), colour
                )


def stock(
    canvas: Canvas, rng: np.random.Generator, rack: Rack, stocked: bool, pallet_racking: bool, storeroom: bool
) -> None:
    """Fill each bay and level: carton rows or pallet loads when ``stocked``, else empties or nothing; in a
    ``storeroom``, carton rows on every level, most of them printed product cartons."""
    view = rack.view
    looks = [
        shipper_look if storeroom and rng.random() < 0.8 else carton_look for _k in range(rng.integers(1, 6))
    ]
    skus = [look(rng) for look in looks]
    shelves = rack.shelves()
    for bay in rack.bays():
        x0, x1 = bay
        bay_looks = [skus[int(rng.integers(len(skus)))] for _k in range(int(rng.integers(1, 4)))]
        for level, (floor_y, clear_top) in enumerate(shelves):
            if floor_y < -10 or clear_top > canvas.size[0] * 1.5:
                continue
            clear_top = max(clear_top, floor_y - (x1 - x0) * 0.8)
            light = float(rng.uniform(0.75, 1.05)) * (0.85 if level == 0 else 1.0)
            if not stocked:
                if rng.random() < 0.5:
                    _empty_bay_contents(canvas, rng, view, bay, floor_y, clear_top, rack.depth)
            elif rng.random() < 0.06:
                continue  # an empty location
            elif pallet_racking or (level == 0 and not storeroom):
                n = int(rng.integers(1, 4)) if pallet_racking else 1
                span = (x1 - x0) / n
                for k in range(n):
                    load = bay_looks[int(rng.integers(len(bay_looks)))] if rng.random() < 0.9 else None
                    _pallet_load(
                        canvas,
                        rng,
                        view,
                        (x0 + k * span + span * 0.04, x0 + (k + 1) * span - span * 0.04),
                        floor_y,
                        clear_top,
                        rack.depth,
                        load,
                        light,
                    )
            else:
                _carton_row(
                    canvas,
                    rng,
                    view,
                    bay,
                    floor_y,
                    clear_top,
                    (rack.depth * 0.02, rack.depth * 0.95),
                    bay_looks,
                    light,
                )
            if level > 0:  # the deck above shades the top of the level
                shade_down(
                    canvas,
                    x0,
                    clear_top,
                    x1,
                    clear_top + (floor_y - clear_top) * 0.45,
                    float(rng.uniform(0.1, 0.4)),
                )

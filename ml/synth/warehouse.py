"""The photo-like domains: ``racking_wall`` (racking bays full of cartons, as users photograph them),
``storeroom_shelf`` (a dim stockroom's shelving full of printed product cartons) and ``no_package`` (the
same places and the machines and people around them, no package).

Each ``render_*`` returns a :class:`~ml.synth.objects.Canvas` (float image and owner map);
:func:`ml.synth.scene.generate_scene` adds the camera and collects the instances.
"""

from __future__ import annotations

import numpy as np

from ml.synth.backgrounds import smooth_field
from ml.synth.camera import warp_to_quad
from ml.synth.figures import paint_person, paint_robot_arm
from ml.synth.fixtures import (
    View,
    paint_bollard,
    paint_cable,
    paint_cone,
    paint_conveyor_front,
    paint_fence,
    paint_floor,
    paint_guard_rail,
    paint_pallet_front,
)
from ml.synth.objects import Canvas
from ml.synth.overhead import render_overhead
from ml.synth.paint import paint_lines, paint_poly, paint_tube, quad
from ml.synth.racking import make_rack, paint_rack_back, paint_rack_front
from ml.synth.stocking import stock


def front_view(
    rng: np.random.Generator, height: int, width: int, oblique: float, eye: tuple[float, float] = (0.2, 0.8)
) -> View:
    """A camera facing the racking: eye level at ``eye`` (share of the height, top down), looking
    along the aisle with probability ``oblique`` (vanishing point off to one side)."""
    vx = width * rng.uniform(0.3, 0.7)
    if rng.random() < oblique:
        vx = width * (rng.uniform(-0.8, -0.1) if rng.random() < 0.5 else rng.uniform(1.1, 1.8))
    return View(vx, height * rng.uniform(*eye), width * rng.uniform(0.8, 1.8))


def paint_hall(canvas: Canvas, rng: np.random.Generator, view: View, floor_y: float, far: float) -> None:
    """The hall behind and below everything: back wall or dark void, lamps, and the floor plane up to
    ``far`` px behind the front plane, with an aisle line in front."""
    height, width = canvas.size
    tone = rng.uniform(35, 190)
    wall = np.array([tone, tone * rng.uniform(0.96, 1.02), tone * rng.uniform(0.9, 1.05)], np.float32)
    field = 0.75 + 0.4 * smooth_field(rng, height, width, 3)
    canvas.image[:] = field[..., None] * wall
    if rng.random() < 0.5:  # ribbed cladding
        pitch = min(height, width) * rng.uniform(0.02, 0.05)
        ribs = (np.arange(width) % pitch) < pitch * 0.25
        canvas.image[:, ribs] *= 0.85
    for _k in range(int(rng.integers(0, 4))):  # high-bay lamps glowing above
        x, y = rng.uniform(0, width), rng.uniform(-0.1, 0.35) * height
        r = min(height, width) * rng.uniform(0.01, 0.03)
        paint_poly(canvas, [quad(x - r * 2, y - r, x + r * 2, y + r)], (255, 250, 235))
    floor_far = view.project(np.array([[0, floor_y]]), far)[0, 1]
    if floor_far < height:
        near_y = height + 20
        front = view.project(np.array([[0, floor_y]]), -view.dist * 0.3)[0, 1]
        marks = []
        if rng.random() < 0.6 and front < height:
            w = (front - floor_far) * rng.uniform(0.04, 0.1)
            marks.append(quad(-10, front, width + 10, front + w))
        paint_floor(canvas, rng, quad(-10, floor_far, width + 10, near_y), marks)


def _foreground(
    canvas: Canvas, rng: np.random.Generator, view: View, floor_y: float, unit: float, busy: float
) -> None:
    """People, barriers, cones and cables between the camera and the racking (``busy`` scales how many)."""
    height, width = canvas.size
    scale = min(height, width)
    floor_near = view.project(np.array([[0, floor_y]]), -view.dist * 0.05)[0, 1]
    if rng.random() < 0.3 * busy and floor_near < height * 0.95:  # a cable or hose lying on the floor
        paint_cable(
            canvas,
            rng,
            (rng.uniform(0, width), rng.uniform(floor_near, height)),
            (rng.uniform(0, width), rng.uniform(floor_near, height)),
            scale * 0.1,
        )
    if rng.random() < 0.2 * busy:
        _hanging_sign(canvas, rng)
    if rng.random() < 0.2 * busy:
        depth = -view.dist * rng.uniform(0.05, 0.3)
        x = rng.uniform(0, width)
        foot = view.project(np.array([[x, floor_y]]), depth)[0]
        paint_cone(canvas, rng, foot[0], foot[1], unit * 0.3 * view.dist / (view.dist + depth))
    if rng.random() < 0.25 * busy:
        depth = -view.dist * rng.uniform(0.1, 0.4)
        y = view.project(np.array([[0, floor_y]]), depth)[0, 1]
        f = view.dist / (view.dist + depth)
        x0 = rng.uniform(-0.3, 0.6) * width
        if rng.random() < 0.6:
            paint_guard_rail(canvas, rng, x0, x0 + width * rng.uniform(0.4, 1.2), y, unit * 0.45 * f)
        else:
            for x in np.arange(x0, x0 + width, unit * f * rng.uniform(0.5, 1.2))[: int(rng.integers(1, 4))]:
                paint_bollard(canvas, rng, x, y, unit * 0.5 * f)
    for _k in range(int(rng.random() < 0.4 * busy) + int(rng.random() < 0.15 * busy)):
        depth = -view.dist * rng.uniform(0.0, 0.55)
        foot = view.project(np.array([[rng.uniform(-0.1, 1.1) * width, floor_y]]), depth)[0]
        paint_person(canvas, rng, (foot[0], foot[1]), unit * 0.72 * view.dist / (view.dist + depth))


def _hanging_sign(canvas: Canvas, rng: np.random.Generator) -> None:
    """An aisle sign hanging from the roof: a board on two chains with a few bold characters."""
    height, width = canvas.size
    w = width * rng.uniform(0.15, 0.4)
    h = w * rng.uniform(0.3, 0.5)
    x, y = rng.uniform(-0.1, 0.9) * width, rng.uniform(-0.1, 0.25) * height
    board, ink = [
        ((240, 240, 235), (25, 25, 30)),
        ((235, 200, 40), (25, 25, 30)),
        ((30, 80, 160), (240, 240, 240)),
        ((30, 120, 60), (240, 240, 240)),
    ][int(rng.integers(4))]
    for cx in (x + w * 0.15, x + w * 0.85):
        paint_lines(canvas, np.array([[cx, -5], [cx, y]]), (60, 60, 60), 1)
    paint_poly(canvas, [quad(x, y, x + w, y + h)], board, ramp=(0.1, 0.1))
    glyphs = int(rng.integers(1, 4))
    cell = w * 0.8 / glyphs
    stroke = max(1, int(h * 0.12))
    for g in range(glyphs):  # a character: a few strokes between points of a 3x3 grid
        gx, gy = x + w * 0.1 + g * cell + cell * 0.15, y + h * 0.2
        grid = np.array([[gx + cell * 0.7 * i / 2, gy + h * 0.6 * j / 2] for j in range(3) for i in range(3)])
        order = rng.permutation(9)[: int(rng.integers(3, 6))]
        paint_lines(canvas, grid[order], ink, stroke)


def _turn(canvas: Canvas, rng: np.random.Generator, view: View) -> None:
    """Turn the camera a little away from square-on: the side the aisle runs towards shrinks."""
    height, width = canvas.size
    a = height * rng.uniform(0.03, 0.14)
    if 0 <= view.vx <= width:
        a *= 0.5
        far_right = rng.random() < 0.5
    else:
        far_right = view.vx > width
    if far_right:  # the left edge shows a shorter strip, so it looks nearer
        corners = np.array([[0, a], [width, 0], [width, height], [0, height - a]])
    else:
        corners = np.array([[0, 0], [width, a], [width, height - a], [0, height]])
    canvas.image, canvas.owner = warp_to_quad(canvas.image, canvas.owner, corners)


def _racking_scene(
    rng: np.random.Generator, height: int, width: int, stocked: bool, storeroom: bool = False
) -> Canvas:
    canvas = Canvas(np.zeros((height, width, 3), np.float32))
    view = front_view(rng, height, width, oblique=0.35)
    pallet_racking = rng.random() < 0.5 and not storeroom
    rack = make_rack(
        rng,
        view,
        height,
        width,
        (0.45, 1.1) if pallet_racking or storeroom else (0.4, 0.9),  # a storeroom's shelves: big, as close up
        (0.45, 0.7) if pallet_racking or storeroom else (0.3, 0.5),
    )
    paint_hall(canvas, rng, view, rack.floor_y, rack.depth * 1.3)
    paint_rack_back(canvas, rng, rack)
    stock(canvas, rng, rack, stocked, pallet_racking, storeroom)
    paint_rack_front(canvas, rng, rack)
    bay = rack.uprights[1] - rack.uprights[0]
    if rng.random() < 0.2:  # a fire extinguisher on an upright
        x = rack.uprights[int(rng.integers(len(rack.uprights)))] + rack.upright_w / 2
        y = rack.floor_y - bay * rng.uniform(0.3, 0.45)
        r = rack.upright_w * rng.uniform(0.7, 1.0)
        paint_tube(canvas, (x, y), (x, y + r * 5), r, (200, 30, 30), 0.5)
        paint_lines(
            canvas, np.array([[x, y - r], [x + r * 1.2, y + r], [x + r * 1.4, y + r * 4]]), (25, 25, 25), 2
        )
    _foreground(canvas, rng, view, rack.floor_y, bay, 1.0 if stocked else 2.0)
    if storeroom:  # dim, and dimmer away from the lamps above
        fall = np.linspace(1.0, rng.uniform(0.4, 0.9), height, dtype=np.float32)[:, None, None]
        canvas.image *= np.float32(rng.uniform(0.3, 0.8)) * fall
    if rng.random() < 0.5:
        _turn(canvas, rng, view)
    return canvas


def _machine_cell(rng: np.random.Generator, height: int, width: int) -> Canvas:
    """A picking or palletising cell: guard fence, conveyors, robot arms, people, floor clutter."""
    canvas = Canvas(np.zeros((height, width, 3), np.float32))
    view = front_view(rng, height, width, oblique=0.3, eye=(0.05, 0.55))
    floor_y = height * rng.uniform(0.6, 1.1)
    unit = width * rng.uniform(0.35, 0.9)  # about a person's height at the front plane
    paint_hall(canvas, rng, view, floor_y, view.dist * 3)
    if rng.random() < 0.6:
        fence_d = view.dist * rng.uniform(0.3, 1.0)
        f = view.dist / (view.dist + fence_d)
        y = view.project(np.array([[0, floor_y]]), fence_d)[0, 1]
        paint_fence(canvas, rng, -10, width + 10, y - unit * 1.1 * f, y)
    for _k in range(int(rng.choice(3, p=[0.25, 0.5, 0.25]))):
        d0 = view.dist * rng.uniform(-0.1, 0.6)
        top = floor_y - unit * rng.uniform(0.35, 0.5)
        paint_conveyor_front(
            canvas,
            rng,
            view,
            rng.uniform(-0.5, 0.3) * width,
            rng.uniform(0.7, 1.5) * width,
            top,
            floor_y,
            (d0, d0 + unit * rng.uniform(0.4, 0.8)),
        )
    if rng.random() < 0.4:  # empty pallets or a pallet stack on the floor
        d0 = view.dist * rng.uniform(0.0, 0.5)
        x = rng.uniform(-0.2, 0.8) * width
        y = floor_y
        for _k in range(int(rng.integers(1, 6))):
            y = paint_pallet_front(
                canvas, rng, view, x, x + unit * rng.uniform(0.6, 0.7), y, (d0, d0 + unit * 0.55)
            )
    for _k in range(int(rng.integers(1, 3))):
        depth = view.dist * rng.uniform(-0.2, 0.4)
        base = view.project(np.array([[rng.uniform(0.1, 0.9) * width, floor_y]]), depth)[0]
        paint_robot_arm(
            canvas, rng, (base[0], base[1]), unit * rng.uniform(0.7, 1.3) * view.dist / (view.dist + depth)
        )
    _foreground(canvas, rng, view, floor_y, unit, 1.5)
    return canvas


def render_racking_wall(rng: np.random.Generator, height: int, width: int) -> Canvas:
    """Racking bays stocked with cartons, front-on or looking a little along the aisle."""
    return _racking_scene(rng, height, width, stocked=True)


def render_storeroom_shelf(rng: np.random.Generator, height: int, width: int) -> Canvas:
    """A stockroom's shelving, dimly lit, every level full of cartons, most printed with a product's art."""
    return _racking_scene(rng, height, width, stocked=True, storeroom=True)


def render_no_package(rng: np.random.Generator, height: int, width: int) -> Canvas:
    """A warehouse view with no package in it: empty racking, a machine cell, or a floor from above."""
    draw = rng.random()
    if draw < 0.45:
        return _racking_scene(rng, height, width, stocked=False)
    if draw < 0.7:
        return _machine_cell(rng, height, width)
    return render_overhead(rng, height, width)

"""The five parcel kinds: cardboard boxes, padded mailers, plastic bags, envelopes, loose items.

Every ``draw_*`` takes the canvas, a seeded generator, a centre (x, y) in pixels, a nominal
size in pixels (the longest side), a rotation in radians and returns the new instance id,
or 0 when the object fell outside the image.
"""

from __future__ import annotations

import cv2
import numpy as np

from ml.synth.objects import Canvas, draw_lines, draw_poly, fill, finish, place, rect, rounded_rect, shaded

BOX_BROWNS = [(181, 135, 85), (196, 154, 104), (160, 118, 72), (205, 170, 120)]
BOX_WHITE = (225, 222, 212)


def box_colour(rng: np.random.Generator) -> np.ndarray:
    """A cardboard colour: mostly kraft brown, sometimes white board."""
    base = BOX_WHITE if rng.random() < 0.2 else BOX_BROWNS[rng.integers(len(BOX_BROWNS))]
    return np.asarray(base, dtype=np.float32) * rng.uniform(0.85, 1.1)


def draw_box(
    canvas: Canvas, rng, centre, size, angle, *, colour=None, aspect=None, extrude=(0.0, 0.0)
) -> int:
    """Cardboard box: top face with tape and label; side faces when ``extrude`` (dx, dy px) != 0."""
    colour = box_colour(rng) if colour is None else colour
    aspect = rng.uniform(0.5, 1.0) if aspect is None else aspect
    w, h = size, size * aspect
    top = place(rect(w, h), centre, angle)
    ext = np.asarray(extrude, dtype=np.float64)
    outline = (
        cv2.convexHull(np.concatenate([top, top + ext]).astype(np.float32)).reshape(-1, 2).astype(np.float64)
    )
    box = canvas.region(outline)
    if box is None:
        return 0
    mask = fill([outline], box)
    img = shaded(rng, colour * 0.62, box)  # side faces are darker than the top
    if np.abs(ext).sum() > 0:
        for i in range(4):
            a, b = top[i], top[(i + 1) % 4]
            face = np.array([a, b, b + ext, a + ext])
            draw_poly(img, [face], box, colour * rng.uniform(0.55, 0.8))
    draw_poly(img, [top], box, colour)
    if rng.random() < 0.8:  # packing tape along the long axis
        tape_w = h * rng.uniform(0.12, 0.25)
        tape = (
            colour * 1.12
            if rng.random() < 0.6
            else np.array([120, 85, 50], np.float32) * rng.uniform(0.9, 1.3)
        )
        draw_poly(img, [place(rect(w, tape_w), centre, angle)], box, tape)
    if rng.random() < 0.6:  # shipping label with a barcode
        lw, lh = w * rng.uniform(0.25, 0.4), h * rng.uniform(0.25, 0.4)
        lx, ly = rng.uniform(-0.25, 0.25) * w, rng.uniform(-0.25, 0.25) * h
        draw_poly(img, [place(rect(lw, lh, lx, ly), centre, angle)], box, (238, 238, 232))
        xs = lx - lw * 0.4 + np.cumsum(rng.uniform(0.02, 0.07, size=12)) * lw
        xs = xs[xs < lx + lw * 0.4]
        seg = np.stack(
            [
                np.stack([xs, np.full_like(xs, ly - lh * 0.1)], 1),
                np.stack([xs, np.full_like(xs, ly + lh * 0.35)], 1),
            ],
            1,
        )
        draw_lines(img, place(seg.reshape(-1, 2), centre, angle).reshape(-1, 2, 2), box, (25, 25, 25))
    return finish(canvas, rng, top if np.abs(ext).sum() == 0 else outline, img, mask, box, "cardboard_box")


def draw_mailer(canvas: Canvas, rng, centre, size, angle, **_) -> int:
    """Padded mailer: rounded rectangle, yellow / white / grey, bubble texture, sealed end."""
    palette = [(222, 196, 96), (236, 234, 226), (160, 162, 168), (205, 180, 140)]
    colour = np.asarray(palette[rng.integers(len(palette))], np.float32) * rng.uniform(0.9, 1.08)
    w, h = size, size * rng.uniform(0.55, 0.8)
    outline = place(rounded_rect(w, h, h * rng.uniform(0.08, 0.2)), centre, angle)
    box = canvas.region(outline)
    if box is None:
        return 0
    mask = fill([outline], box)
    img = shaded(rng, colour, box, 0.2)
    bumps = rng.normal(0, 6, size=(max(1, (box[3] - box[1]) // 3), max(1, (box[2] - box[0]) // 3), 1)).astype(
        np.float32
    )
    img += cv2.resize(bumps, (box[2] - box[0], box[3] - box[1]), interpolation=cv2.INTER_LINEAR)[..., None]
    seal = place(rect(w * 0.08, h * 0.95, -w * 0.44, 0), centre, angle)
    draw_poly(img, [seal], box, colour * 0.85)
    for _k in range(int(rng.integers(1, 4))):  # creases
        p = place(rng.uniform(-0.4, 0.4, size=(2, 2)) * (w, h), centre, angle)
        draw_lines(img, p[None], box, colour * rng.uniform(0.75, 1.15), 1)
    return finish(canvas, rng, outline, img, mask, box, "padded_mailer")


def draw_bag(canvas: Canvas, rng, centre, size, angle, **_) -> int:
    """Poly bag: wavy irregular outline, translucent, specular highlights and wrinkles."""
    palette = [(210, 215, 220), (40, 40, 45), (60, 90, 170), (230, 230, 235), (180, 185, 160)]
    colour = np.asarray(palette[rng.integers(len(palette))], np.float32)
    phi = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    radius = np.ones_like(phi)
    for k in range(2, 7):
        radius += rng.uniform(0, 0.12 / k * 2) * np.sin(k * phi + rng.uniform(0, 2 * np.pi))
    elong = rng.uniform(0.55, 0.9)
    local = np.stack([np.cos(phi) * radius * size / 2, np.sin(phi) * radius * size / 2 * elong], 1)
    outline = place(local, centre, angle)
    box = canvas.region(outline)
    if box is None:
        return 0
    mask = fill([outline], box)
    img = shaded(rng, colour, box, 0.25)
    for _k in range(int(rng.integers(2, 6))):  # wrinkles and glossy highlights
        p = place(rng.uniform(-0.35, 0.35, size=(2, 2)) * (size, size * elong), centre, angle)
        bright = rng.random() < 0.5
        draw_lines(img, p[None], box, (250, 250, 250) if bright else colour * 0.7, int(rng.integers(1, 4)))
    return finish(canvas, rng, outline, img, mask, box, "plastic_bag", alpha=float(rng.uniform(0.7, 0.92)))


def draw_envelope(canvas: Canvas, rng, centre, size, angle, **_) -> int:
    """Flat paper envelope with flap lines and an address block."""
    palette = [(240, 238, 230), (215, 190, 140), (185, 140, 95), (235, 225, 200)]
    colour = np.asarray(palette[rng.integers(len(palette))], np.float32) * rng.uniform(0.92, 1.05)
    w, h = size, size * rng.uniform(0.45, 0.7)
    outline = place(rect(w, h), centre, angle)
    box = canvas.region(outline)
    if box is None:
        return 0
    mask = fill([outline], box)
    img = shaded(rng, colour, box, 0.1)
    flap = np.array([[[-w / 2, -h / 2], [0, h * 0.1]], [[w / 2, -h / 2], [0, h * 0.1]]])
    draw_lines(img, place(flap.reshape(-1, 2), centre, angle).reshape(-1, 2, 2), box, colour * 0.8)
    rows = rng.uniform(-0.1, 0.1) * w + np.array([[-0.15, 0.15], [-0.15, 0.2], [-0.15, 0.1]]) * w
    ys = np.array([0.15, 0.25, 0.35]) * h
    seg = np.stack([np.stack([rows[:, 0], ys], 1), np.stack([rows[:, 1], ys], 1)], 1)
    draw_lines(img, place(seg.reshape(-1, 2), centre, angle).reshape(-1, 2, 2), box, (40, 40, 60), 1)
    return finish(canvas, rng, outline, img, mask, box, "envelope")


def draw_item(canvas: Canvas, rng, centre, size, angle, **_) -> int:
    """A loose item: bottle, tin, blister pack or odd polygon in a saturated colour."""
    colour = rng.uniform(20, 235, size=3).astype(np.float32)
    kind = int(rng.integers(3))
    if kind == 0:  # ellipse / tin
        phi = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        local = np.stack([np.cos(phi) * size / 2, np.sin(phi) * size / 2 * rng.uniform(0.5, 1.0)], 1)
    elif kind == 1:  # bottle-like capsule
        local = rounded_rect(size, size * rng.uniform(0.25, 0.45), size * 0.15)
    else:  # convex blob polygon
        phi = np.sort(rng.uniform(0, 2 * np.pi, size=int(rng.integers(5, 9))))
        local = np.stack([np.cos(phi), np.sin(phi)], 1) * size / 2 * rng.uniform(0.7, 1.0, size=(len(phi), 1))
    outline = place(local, centre, angle)
    box = canvas.region(outline)
    if box is None:
        return 0
    mask = fill([outline], box)
    img = shaded(rng, colour, box, 0.3)
    if rng.random() < 0.6:  # a printed stripe
        draw_poly(img, [place(rect(size, size * 0.12), centre, angle)], box, 255 - colour)
    return finish(canvas, rng, outline, img, mask, box, "item")


DRAWERS = {
    "cardboard_box": draw_box,
    "padded_mailer": draw_mailer,
    "plastic_bag": draw_bag,
    "envelope": draw_envelope,
    "item": draw_item,
}

"""Cartons standing on shelves and pallets, in perspective, with their print, tape and labels.

A carton is an axis-aligned box behind the front plane of a :class:`~ml.synth.fixtures.View`;
its mask is every face the camera sees (the convex hull of its projected corners), less
whatever is later painted in front of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ml.synth.fixtures import View
from ml.synth.objects import Canvas, draw_lines, draw_poly, fill, finish, shaded
from ml.synth.paint import quad
from ml.synth.parcels import BOX_BROWNS, BOX_WHITE

PRINT_INKS = [(30, 30, 32), (35, 55, 120), (150, 30, 30), (30, 100, 50), (60, 40, 30)]
RETAIL = [(200, 40, 40), (40, 90, 170), (240, 240, 235), (30, 30, 35), (240, 200, 40), (60, 150, 80)]


@dataclass(frozen=True)
class CartonLook:
    """What one product's cartons look like; cartons of a stock-keeping unit share it."""

    colour: np.ndarray  # RGB float board colour
    ink: tuple[int, int, int]
    logo: bool  # printed brand mark and text on the front
    symbols: bool  # handling symbols (this way up, keep dry)
    tape: str  # "kraft", "clear", "printed" or "none"
    label: float  # chance of a shipping label on a carton's front
    retail: bool  # full-colour printed board
    # a consumer product's shipper: brand name, product picture and bands in bold colours
    artwork: bool = False


def carton_look(rng: np.random.Generator) -> CartonLook:
    """A random product look: kraft brown mostly, some white board, a few full-colour retail boxes."""
    draw = rng.random()
    if draw < 0.05:
        colour, retail = np.asarray(RETAIL[int(rng.integers(len(RETAIL)))], np.float32), True
    elif draw < 0.22:
        colour, retail = np.asarray(BOX_WHITE, np.float32), False
    else:
        base = np.asarray(BOX_BROWNS[int(rng.integers(len(BOX_BROWNS)))], np.float32)
        colour, retail = (
            base
            * rng.uniform(0.8, 1.1)
            * np.array([1, rng.uniform(0.95, 1.03), rng.uniform(0.9, 1.05)], np.float32),
            False,
        )
    tape = ["kraft", "clear", "printed", "none"][int(rng.choice(4, p=[0.35, 0.3, 0.1, 0.25]))]
    ink = PRINT_INKS[int(rng.integers(len(PRINT_INKS)))]
    return CartonLook(
        colour.astype(np.float32),
        ink,
        bool(rng.random() < 0.55),
        bool(rng.random() < 0.3),
        tape,
        float(rng.uniform(0.0, 0.7)),
        retail,
    )


ART_INKS = [(200, 30, 35), (25, 70, 170), (20, 130, 60), (240, 190, 20), (120, 40, 140), (235, 235, 230)]


def shipper_look(rng: np.random.Generator) -> CartonLook:
    """A consumer product's shipping carton, as shops and stores keep them on shelves: kraft or white board
    printed with the product's art (brand name, picture, colour bands) over much of its front."""
    board = BOX_WHITE if rng.random() < 0.3 else BOX_BROWNS[int(rng.integers(len(BOX_BROWNS)))]
    return CartonLook(
        np.asarray(board, np.float32) * rng.uniform(0.85, 1.05),
        ART_INKS[int(rng.integers(len(ART_INKS)))],
        False,
        bool(rng.random() < 0.3),
        ["kraft", "clear", "none"][int(rng.integers(3))],
        float(rng.uniform(0.0, 0.2)),
        False,
        artwork=True,
    )


def paint_carton(
    canvas: Canvas,
    rng: np.random.Generator,
    view: View,
    rect: tuple[float, float, float, float],
    depths: tuple[float, float],
    look: CartonLook,
    light: float = 1.0,
) -> int:
    """Paint one carton (front rectangle x0, y0, x1, y1 at depths d0..d1); returns its instance id (0 if unseen)."""
    x0, y0, x1, y1 = rect
    faces = view.slab(x0, y0, x1, y1, *depths)
    corners = np.concatenate([view.project(quad(*rect), depths[0]), view.project(quad(*rect), depths[1])])
    outline = cv2.convexHull(corners.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    box = canvas.region(outline)
    if box is None:
        return 0
    mask = fill([outline], box)
    colour = look.colour * light * rng.uniform(0.93, 1.06)
    img = shaded(rng, colour * 0.7, box, 0.1)
    gain = {
        "top": rng.uniform(1.05, 1.2),
        "left": rng.uniform(0.6, 0.8),
        "right": rng.uniform(0.6, 0.8),
        "bottom": 0.4,
    }
    for name, face in faces.items():
        if name != "front":
            draw_poly(img, [face], box, np.minimum(colour * gain[name], 255))
    front = faces["front"]
    draw_poly(img, [front], box, colour)
    fx0, fy0 = front[0]
    fx1, fy1 = front[2]
    fw, fh = fx1 - fx0, fy1 - fy0
    if look.retail:
        _retail_print(img, rng, box, front, look)
    if look.artwork and fw > 8:
        _product_art(img, rng, box, front, look)
    if look.logo and fw > 12:
        _logo(img, rng, box, front, look)
    if look.symbols and fw > 20:
        _symbols(img, rng, box, front, look.ink)
    if "top" in faces and look.tape != "none":
        _tape_on_top(img, rng, box, faces["top"], look)
    if look.tape != "none" and rng.random() < 0.5:  # tape wrapped over the top edge onto the front
        tw = fw * rng.uniform(0.12, 0.2)
        cx = fx0 + fw * 0.5
        draw_poly(
            img,
            [quad(cx - tw / 2, fy0, cx + tw / 2, fy0 + fh * rng.uniform(0.1, 0.3))],
            box,
            _tape_colour(look, colour),
        )
    if rng.random() < look.label and fw > 10:
        _shipping_label(img, rng, box, front)
    for name in ("left", "right"):
        if name in faces and rng.random() < 0.25:  # hand hole
            f = faces[name]
            c = f.mean(axis=0)
            hw, hh = np.abs(f[2, 0] - f[1, 0]) * 0.18 + 1, fh * 0.05 + 1
            draw_poly(
                img,
                [quad(c[0] - hw, c[1] - fh * 0.3 - hh, c[0] + hw, c[1] - fh * 0.3 + hh)],
                box,
                colour * 0.25,
            )
    edges = np.array([[front[0], front[1]], [front[1], front[2]], [front[0], front[3]]])
    _segments(img, edges, box, colour * 0.55, 1)
    return finish(canvas, rng, outline, img, mask, box, "cardboard_box")


def _segments(img: np.ndarray, segments: np.ndarray, box, colour, thickness: int) -> None:
    """Antialiased segments (K, 2, 2) in image coords into a crop at ``box``, in one call."""
    pts = np.round((np.asarray(segments) - box[:2]) * 8).astype(np.int32)
    cv2.polylines(img, list(pts), False, tuple(float(c) for c in colour), thickness, cv2.LINE_AA, 3)


def _tape_colour(look: CartonLook, colour: np.ndarray) -> np.ndarray:
    if look.tape == "kraft":
        return np.asarray((150, 105, 60), np.float32)
    if look.tape == "printed":
        return np.asarray((225, 225, 220), np.float32)
    return np.minimum(colour * 1.12 + 8, 255)  # clear tape: a glossier band of the board


def _tape_on_top(img, rng, box, top: np.ndarray, look: CartonLook) -> None:
    """Packing tape across the top flaps' seam, and the seam itself."""
    a, b, c, d = top  # front-left, front-right, back-right, back-left
    tape = _tape_colour(look, look.colour)
    t = rng.uniform(0.08, 0.14)
    if rng.random() < 0.6:  # seam from front to back
        band = np.array(
            [
                a + (b - a) * (0.5 - t),
                a + (b - a) * (0.5 + t),
                d + (c - d) * (0.5 + t),
                d + (c - d) * (0.5 - t),
            ]
        )
    else:  # seam from side to side
        band = np.array(
            [
                a + (d - a) * (0.5 - t),
                b + (c - b) * (0.5 - t),
                b + (c - b) * (0.5 + t),
                a + (d - a) * (0.5 + t),
            ]
        )
    draw_poly(img, [band], box, tape)


def _shipping_label(img, rng, box, front: np.ndarray) -> None:
    """A white label with a barcode and address lines, somewhere on the front face."""
    x0, y0 = front[0]
    x1, y1 = front[2]
    w, h = x1 - x0, y1 - y0
    lw, lh = w * rng.uniform(0.22, 0.4), h * rng.uniform(0.2, 0.4)
    lx, ly = x0 + rng.uniform(0.05, 0.9) * (w - lw), y0 + rng.uniform(0.1, 0.9) * (h - lh)
    draw_poly(img, [quad(lx, ly, lx + lw, ly + lh)], box, (240, 240, 236))
    xs = lx + lw * 0.1 + np.cumsum(rng.uniform(0.02, 0.06, size=16)) * lw
    xs = xs[xs < lx + lw * 0.9]
    bars = np.stack(
        [
            np.stack([xs, np.full_like(xs, ly + lh * 0.5)], 1),
            np.stack([xs, np.full_like(xs, ly + lh * 0.88)], 1),
        ],
        1,
    )
    _segments(img, bars, box, (20, 20, 20), 1)
    for k in range(2):
        yy = ly + lh * (0.15 + 0.15 * k)
        draw_lines(
            img,
            np.array([[[lx + lw * 0.1, yy], [lx + lw * rng.uniform(0.4, 0.85), yy]]]),
            box,
            (70, 70, 70),
            1,
        )


def _logo(img, rng, box, front: np.ndarray, look: CartonLook) -> None:
    """A brand mark (disc, lozenge or bar) with a line or two of heavy 'text' beside it."""
    x0, y0 = front[0]
    x1, y1 = front[2]
    w, h = x1 - x0, y1 - y0
    cx, cy = x0 + w * rng.uniform(0.2, 0.5), y0 + h * rng.uniform(0.25, 0.6)
    r = min(w, h) * rng.uniform(0.06, 0.14)
    kind = int(rng.integers(3))
    if kind == 0:
        phi = np.linspace(0, 2 * np.pi, 20, endpoint=False)
        draw_poly(img, [np.stack([cx + r * np.cos(phi), cy + r * np.sin(phi)], 1)], box, look.ink)
    elif kind == 1:
        draw_poly(img, [np.array([[cx - r, cy], [cx, cy - r], [cx + r, cy], [cx, cy + r]])], box, look.ink)
    else:
        draw_poly(img, [quad(cx - r * 1.5, cy - r * 0.5, cx + r * 1.5, cy + r * 0.5)], box, look.ink)
    thick = max(1, int(r * rng.uniform(0.4, 0.8)))
    length = w * rng.uniform(0.2, 0.45)
    for k in range(int(rng.integers(1, 3))):
        yy = cy - r * 0.3 + k * thick * 2.2
        draw_lines(
            img,
            np.array([[[cx + r * 1.8, yy], [min(cx + r * 1.8 + length, x1 - 2), yy]]]),
            box,
            look.ink,
            thick,
        )


def _symbols(img, rng, box, front: np.ndarray, ink) -> None:
    """'This way up' arrows in a corner of the front face."""
    x0, y0 = front[0]
    x1, y1 = front[2]
    s = min(x1 - x0, y1 - y0) * rng.uniform(0.08, 0.14)
    ax, ay = x1 - s * 3.2, y0 + s * 1.4
    for k in range(2):
        bx = ax + k * s * 1.2
        draw_poly(
            img,
            [np.array([[bx, ay - s * 0.6], [bx + s * 0.45, ay - s * 0.1], [bx - s * 0.45, ay - s * 0.1]])],
            box,
            ink,
        )
        draw_lines(img, np.array([[[bx, ay - s * 0.1], [bx, ay + s * 0.6]]]), box, ink, max(1, int(s * 0.2)))


def _retail_print(img, rng, box, front: np.ndarray, look: CartonLook) -> None:
    """Full-colour product art: a contrasting panel and a product picture block."""
    x0, y0 = front[0]
    x1, y1 = front[2]
    w, h = x1 - x0, y1 - y0
    accent = rng.uniform(20, 235, size=3)
    draw_poly(img, [quad(x0, y0 + h * rng.uniform(0.55, 0.75), x1, y1)], box, accent)
    px, py = x0 + w * rng.uniform(0.45, 0.6), y0 + h * 0.12
    draw_poly(img, [quad(px, py, px + w * 0.35, py + h * 0.45)], box, 255 - accent * 0.6)


def _product_art(img, rng, box, front: np.ndarray, look: CartonLook) -> None:
    """A product's art over the front: a colour band, the brand name in heavy letters (on a badge at times),
    a picture of the product and a few lines of small print."""
    x0, y0 = front[0]
    x1, y1 = front[2]
    w, h = x1 - x0, y1 - y0
    accent = np.asarray(ART_INKS[int(rng.integers(len(ART_INKS)))], np.float32) * rng.uniform(0.8, 1.05)
    if rng.random() < 0.6:  # a band across the top or the bottom
        top = rng.random() < 0.5
        share = rng.uniform(0.2, 0.45)
        band = quad(x0, y0, x1, y0 + h * share) if top else quad(x0, y1 - h * share, x1, y1)
        draw_poly(img, [band], box, accent)
    letters = int(rng.integers(3, 8))
    lh, lw = h * rng.uniform(0.12, 0.25), w * rng.uniform(0.5, 0.85)
    lx, ly = x0 + (w - lw) * rng.uniform(0.1, 0.9), y0 + h * rng.uniform(0.12, 0.45)
    if rng.random() < 0.4:  # the name on a badge of its own colour
        pad = lh * 0.35
        draw_poly(img, [quad(lx - pad, ly - pad, lx + lw + pad, ly + lh + pad)], box, 255 - accent * 0.7)
    widths = rng.uniform(0.6, 1.4, letters)
    edges = np.concatenate([[0.0], np.cumsum(widths)]) / widths.sum() * lw
    ink = np.asarray(look.ink, np.float32)
    letter_boxes = [
        quad(lx + a, ly, lx + b - lw * 0.025, ly + lh * rng.uniform(0.8, 1.0))
        for a, b in zip(edges[:-1], edges[1:], strict=True)
    ]
    draw_poly(img, letter_boxes, box, ink)
    r = min(w, h) * rng.uniform(0.1, 0.22)
    cx, cy = x0 + w * rng.uniform(0.2, 0.8), min(ly + lh + r * 1.3, y1 - r)
    phi = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    stretch = rng.uniform(0.7, 1.4)
    colour = np.asarray(ART_INKS[int(rng.integers(len(ART_INKS)))], np.float32)
    draw_poly(img, [np.stack([cx + r * stretch * np.cos(phi), cy + r * np.sin(phi)], 1)], box, colour)
    draw_poly(
        img,
        [np.stack([cx - r * 0.3 + r * 0.3 * np.cos(phi), cy - r * 0.35 + r * 0.25 * np.sin(phi)], 1)],
        box,
        np.minimum(colour * 1.5 + 60, 255),
    )
    for k in range(int(rng.integers(0, 4))):
        yy = y1 - h * (0.08 + 0.06 * k)
        draw_lines(img, np.array([[[x0 + w * 0.08, yy], [x0 + w * rng.uniform(0.3, 0.7), yy]]]), box, ink, 1)

"""Procedural backgrounds and whole-image camera effects for synthetic warehouse scenes.

All images here are float32 arrays of shape (H, W, 3), RGB, values nominally in 0..255.
Every function takes a ``numpy.random.Generator`` so a scene is a pure function of its seed.
"""

from __future__ import annotations

import cv2
import numpy as np


def smooth_field(rng: np.random.Generator, height: int, width: int, cells: int = 6) -> np.ndarray:
    """Low-frequency noise in [0, 1], shape (H, W): a small random grid upsampled bicubically."""
    gh = max(2, cells)
    gw = max(2, int(round(cells * width / max(height, 1))))
    grid = rng.random((gh, gw), dtype=np.float32)
    field = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(field, 0.0, 1.0)


def _tint(height: int, width: int, rgb: tuple[float, float, float]) -> np.ndarray:
    return np.broadcast_to(np.asarray(rgb, dtype=np.float32), (height, width, 3)).copy()


def conveyor(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Dark rubber belt running top to bottom, with metal side rails."""
    grey = float(rng.uniform(45, 85))
    img = _tint(height, width, (grey, grey, grey * rng.uniform(0.95, 1.08)))
    rows = rng.normal(0, 4, size=(height, 1, 1)).astype(np.float32)  # belt weave, across travel
    img += rows
    img *= (0.85 + 0.3 * smooth_field(rng, height, width, 4))[..., None]
    rail = int(width * rng.uniform(0.03, 0.08))
    if rail > 0:
        metal = np.linspace(130, 200, rail, dtype=np.float32)[None, :, None]
        img[:, :rail] = metal
        img[:, width - rail :] = metal[:, ::-1]
    return img


def tote(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Inside of a plastic tote seen from above: a floor framed by four lit walls."""
    palette = [(40, 80, 160), (35, 35, 40), (150, 150, 155), (40, 110, 60), (190, 60, 40)]
    base = np.asarray(palette[rng.integers(len(palette))], dtype=np.float32) * rng.uniform(0.8, 1.15)
    img = _tint(height, width, tuple(base * 0.85))
    inset_x, inset_y = int(width * rng.uniform(0.06, 0.14)), int(height * rng.uniform(0.06, 0.14))
    outer = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.int32)
    inner = np.array(
        [
            [inset_x, inset_y],
            [width - inset_x, inset_y],
            [width - inset_x, height - inset_y],
            [inset_x, height - inset_y],
        ],
        dtype=np.int32,
    )
    for i, gain in enumerate(rng.uniform(0.9, 1.35, size=4)):
        wall = np.array([outer[i], outer[(i + 1) % 4], inner[(i + 1) % 4], inner[i]], dtype=np.int32)
        cv2.fillPoly(img, [wall], tuple(float(c) for c in base * gain))
    img *= (0.9 + 0.2 * smooth_field(rng, height, width, 3))[..., None]
    return img


def concrete(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Grey concrete floor with blotches and, sometimes, a painted safety line."""
    grey = float(rng.uniform(110, 175))
    img = _tint(height, width, (grey, grey * rng.uniform(0.97, 1.02), grey * rng.uniform(0.92, 1.0)))
    blotch = 0.8 + 0.25 * smooth_field(rng, height, width, 5) + 0.1 * smooth_field(rng, height, width, 16)
    img *= blotch[..., None]
    if rng.random() < 0.35:
        x = int(rng.uniform(0.1, 0.9) * width)
        cv2.line(
            img,
            (x, -10),
            (x + int(rng.normal(0, width * 0.2)), height + 10),
            (210, 180, 40),
            int(width * 0.04),
        )
    return img


def pallet(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Wooden pallet deck boards with dark gaps, seen from above."""
    img = _tint(height, width, (30, 28, 26))
    wood = np.asarray((175, 135, 90), dtype=np.float32) * rng.uniform(0.75, 1.15)
    boards = int(rng.integers(5, 9))
    pitch = height / boards
    grain = rng.normal(0, 7, size=(1, width, 1)).astype(np.float32)
    for b in range(boards):
        y0, y1 = int(b * pitch + pitch * 0.06), int((b + 1) * pitch - pitch * 0.06)
        img[y0:y1] = wood * rng.uniform(0.85, 1.1) + grain
    img *= (0.85 + 0.25 * smooth_field(rng, height, width, 4))[..., None]
    return img


BACKGROUNDS = {"conveyor": conveyor, "tote": tote, "concrete": concrete, "pallet": pallet}


def oblique_homography(width: int, height: int, strength: float) -> np.ndarray:
    """Homography for a camera tilted towards the top of the image.

    The far (top) edge of the output sees a wider strip of the ground plane than the near
    (bottom) edge, so far objects shrink. ``strength`` in [0, 0.35] is the fraction of the
    width cut from each side at the near edge.
    """
    k = strength * width
    src = np.array([[0, 0], [width, 0], [width - k, height], [k, height]], dtype=np.float32)
    dst = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    return cv2.getPerspectiveTransform(src, dst)


def basic_camera_effects(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """The four original domains' camera: lighting gradient, sensor noise, optional blur and JPEG
    artefacts; returns uint8 RGB. Kept as it is so those scenes stay bit-identical per seed (the
    richer, separately seeded effects are :mod:`ml.synth.camera`)."""
    height, width = img.shape[:2]
    light = 0.7 + 0.5 * smooth_field(rng, height, width, 2)
    img = img * light[..., None]
    noise = rng.standard_normal((height, width, 1), dtype=np.float32) * float(rng.uniform(1.5, 6.0))
    img = np.clip(img + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (3, 3), 0)
    if rng.random() < 0.5:
        quality = int(rng.integers(35, 90))
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else None
        if decoded is not None:  # like a failed encode, a failed decode keeps the image unchanged
            img = decoded
    return img

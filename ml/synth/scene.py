"""Named scene domains and :func:`generate_scene`, the generator's entry point.

A scene is a pure function of (domain, seed, size). Objects are drawn back to front onto
an ownership map, so each pixel belongs to at most one instance (modal masks). Oblique
domains are drawn on the ground plane and then warped by a homography; the ownership map
is warped with nearest-neighbour sampling, which keeps it exclusive.

:data:`DOMAINS` are the four original parcel domains (``"all"`` means these, so the
synthetic held-out set stays as it was); :data:`PHOTO_DOMAINS` are the photo-like ones
(``racking_wall``, ``storeroom_shelf``, ``no_package``), named explicitly where wanted.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import cv2
import numpy as np

from ml.synth import backgrounds
from ml.synth.camera import camera_effects, camera_warp
from ml.synth.objects import Canvas
from ml.synth.parcels import DRAWERS, box_colour, draw_box
from ml.synth.warehouse import render_no_package, render_racking_wall, render_storeroom_shelf

CATEGORIES = ["cardboard_box", "padded_mailer", "plastic_bag", "envelope", "item"]
"""Universal categories; COCO category id = index + 1."""


@dataclass(frozen=True)
class DomainSpec:
    """How one domain looks: background, clutter, camera tilt and category mix."""

    background: str
    count: tuple[int, int]  # objects per scene, inclusive range
    weights: tuple[float, ...]  # category mix, in CATEGORIES order
    layout: str  # "scatter", "pile" or "stack"
    tilt: tuple[float, float] = (0.0, 0.0)  # homography strength range, see oblique_homography
    extrude: tuple[float, float] = (0.0, 0.0)  # box side-face depth as a fraction of box size
    size_range: dict[str, tuple[float, float]] = field(default_factory=dict)


_SIZES = {  # longest side as a fraction of min(H, W)
    "cardboard_box": (0.14, 0.34),
    "padded_mailer": (0.16, 0.32),
    "plastic_bag": (0.16, 0.32),
    "envelope": (0.14, 0.28),
    "item": (0.06, 0.15),
}

DOMAINS: dict[str, DomainSpec] = {
    "conveyor_topdown": DomainSpec("conveyor", (3, 9), (0.3, 0.2, 0.15, 0.2, 0.15), "scatter"),
    "tote_oblique": DomainSpec(
        "tote", (4, 11), (0.15, 0.2, 0.3, 0.1, 0.25), "pile", (0.12, 0.28), (0.04, 0.12)
    ),
    "floor_pile": DomainSpec(
        "concrete", (5, 13), (0.45, 0.2, 0.15, 0.1, 0.1), "pile", (0.0, 0.18), (0.0, 0.1)
    ),
    "pallet_stack": DomainSpec(
        "pallet", (4, 12), (1.0, 0.0, 0.0, 0.0, 0.0), "stack", (0.05, 0.22), (0.03, 0.1)
    ),
}

PHOTO_DOMAINS: dict[str, Callable[[np.random.Generator, int, int], Canvas]] = {
    "racking_wall": render_racking_wall,  # racking bays stocked with cartons (cardboard_box only)
    "storeroom_shelf": render_storeroom_shelf,  # dim stockroom shelving full of printed product cartons
    "no_package": render_no_package,  # warehouse clutter and no package at all: labels all zero
}
"""Photo-like domains, rendered with :func:`camera_warp` and :func:`camera_effects`; not part of ``"all"``."""

ALL_DOMAINS: tuple[str, ...] = (*sorted(DOMAINS), *sorted(PHOTO_DOMAINS))
"""Every name :func:`generate_scene` accepts."""

MIN_VISIBLE_FRACTION = 0.0012  # instances smaller than this share of the image are dropped


class SceneInstance(NamedTuple):
    mask: np.ndarray  # bool (H, W)
    category: str


@dataclass
class Scene:
    """A rendered scene: RGB uint8 image (H, W, 3) and modal instances."""

    image: np.ndarray
    instances: list[SceneInstance]
    labels: np.ndarray  # int32 (H, W): 0 background, i + 1 for instances[i]
    domain: str
    seed: int


def domain_seed(domain: str, seed: int) -> int:
    """Stable per-domain seed so the same ``seed`` gives different scenes in different domains."""
    return (zlib.crc32(domain.encode()) ^ (seed * 2654435761)) & 0xFFFFFFFF


def generate_scene(domain: str, seed: int, size: tuple[int, int] = (512, 512)) -> Scene:
    """Render one scene of ``domain`` (any of :data:`ALL_DOMAINS`) at ``size`` = (height, width) pixels,
    deterministically."""
    if domain not in DOMAINS and domain not in PHOTO_DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; choose from {list(ALL_DOMAINS)}")
    height, width = size
    rng = np.random.default_rng(domain_seed(domain, seed))
    if domain in PHOTO_DOMAINS:
        canvas = PHOTO_DOMAINS[domain](rng, height, width)
        image, owner = camera_warp(canvas.image, canvas.owner, rng)
        owner = _drop_thin(owner, max(4.0, MIN_VISIBLE_FRACTION * height * width / 4))
        return _collect(camera_effects(image, rng), owner, canvas.categories, domain, seed)
    spec = DOMAINS[domain]
    canvas = Canvas(backgrounds.BACKGROUNDS[spec.background](rng, height, width))
    scale = min(height, width)
    if spec.layout == "stack":
        _draw_stack(canvas, rng, spec, scale)
    else:
        _draw_scattered(canvas, rng, spec, scale)
    image, owner = canvas.image, canvas.owner
    tilt = rng.uniform(*spec.tilt)
    if tilt > 0.01:
        hom = backgrounds.oblique_homography(width, height, tilt)
        image = cv2.warpPerspective(
            image, hom, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        owner = cv2.warpPerspective(
            owner.astype(np.float32),
            hom,
            (width, height),
            flags=cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        ).astype(np.int32)
    image = backgrounds.basic_camera_effects(rng, image)
    return _collect(image, owner, canvas.categories, domain, seed)


def crop_scene(scene: Scene, top: int, left: int, size: tuple[int, int]) -> Scene:
    """The ``size`` = (height, width) window of ``scene`` at (``top``, ``left``), as a camera framing
    part of it would see it: instances cut to the window, slivers dropped as in generation."""
    height, width = size
    if top < 0 or left < 0 or top + height > scene.labels.shape[0] or left + width > scene.labels.shape[1]:
        raise ValueError(f"window {size} at ({top}, {left}) is outside the {scene.labels.shape} scene")
    window = (slice(top, top + height), slice(left, left + width))
    return _collect(
        scene.image[window].copy(),
        scene.labels[window],
        [inst.category for inst in scene.instances],
        scene.domain,
        scene.seed,
    )


def camera_augment(scene: Scene, rng: np.random.Generator, strength: float = 1.0) -> Scene:
    """``scene`` as another camera would have taken it: :func:`camera_warp` (image and labels alike)
    then :func:`camera_effects`; instances cut to slivers by the warp are dropped as in generation.
    For training on any domain; ``generate_scene`` itself never calls it on the original four."""
    image, labels = camera_warp(scene.image, scene.labels, rng, strength)
    return _collect(
        camera_effects(image, rng, strength),
        labels,
        [inst.category for inst in scene.instances],
        scene.domain,
        scene.seed,
    )


def _draw_scattered(canvas: Canvas, rng: np.random.Generator, spec: DomainSpec, scale: int) -> None:
    height, width = canvas.size
    n = int(rng.integers(spec.count[0], spec.count[1] + 1))
    weights = np.asarray(spec.weights) / np.sum(spec.weights)
    kinds = rng.choice(len(CATEGORIES), size=n, p=weights)
    if spec.layout == "pile":
        spread = rng.uniform(0.18, 0.3)
        xy = rng.normal(0.5, spread, size=(n, 2)).clip(0.05, 0.95) * (width, height)
    else:
        xy = rng.uniform(0.08, 0.92, size=(n, 2)) * (width, height)
    shared_colour = box_colour(rng)  # touching look-alike boxes are the hard case
    for k, (x, y) in zip(kinds, xy, strict=True):
        name = CATEGORIES[k]
        lo, hi = _SIZES[name]
        size = rng.uniform(lo, hi) * scale
        depth = rng.uniform(*spec.extrude) * size
        kwargs: dict[str, Any] = {}  # extrude is a (lo, hi) pair, colour an RGB array
        if name == "cardboard_box":
            kwargs["extrude"] = (0.0, depth)
            if rng.random() < 0.4:
                kwargs["colour"] = shared_colour
        DRAWERS[name](canvas, rng, (x, y), size, rng.uniform(0, np.pi), **kwargs)


def _draw_stack(canvas: Canvas, rng: np.random.Generator, spec: DomainSpec, scale: int) -> None:
    """A pallet layer: a grid of same-size, mostly same-colour boxes, nearly touching."""
    height, width = canvas.size
    size = rng.uniform(0.2, 0.32) * scale
    aspect = rng.uniform(0.55, 1.0)
    gap = rng.uniform(0.0, 0.03) * scale
    cols = max(1, int(width * rng.uniform(0.7, 1.0) // (size + gap)))
    rows = max(1, int(height * rng.uniform(0.7, 1.0) // (size * aspect + gap)))
    x0 = (width - cols * (size + gap)) / 2 + (size + gap) / 2
    y0 = (height - rows * (size * aspect + gap)) / 2 + (size * aspect + gap) / 2
    tilt = rng.normal(0, 0.05)
    colour = box_colour(rng)
    depth = rng.uniform(*spec.extrude) * size
    for r in range(rows):  # far rows first so nearer side faces occlude them
        for c in range(cols):
            if rng.random() < 0.12:
                continue
            x = x0 + c * (size + gap) + rng.normal(0, 0.02 * size)
            y = y0 + r * (size * aspect + gap) + rng.normal(0, 0.02 * size)
            own = colour if rng.random() < 0.8 else box_colour(rng)
            draw_box(
                canvas,
                rng,
                (x, y),
                size,
                tilt + rng.normal(0, 0.03),
                colour=own,
                aspect=aspect,
                extrude=(0.0, depth),
            )
    for _k in range(int(rng.integers(0, 3))):  # loose parcels dropped on top
        name = CATEGORIES[int(rng.integers(1, len(CATEGORIES)))]
        lo, hi = _SIZES[name]
        xy = rng.uniform(0.15, 0.85, size=2) * (width, height)
        DRAWERS[name](canvas, rng, tuple(xy), rng.uniform(lo, hi) * scale, rng.uniform(0, np.pi))


def _drop_thin(owner: np.ndarray, min_core: float) -> np.ndarray:
    """Owner map without the instances that are only slivers: fewer than ``min_core`` pixels whose
    whole 3x3 neighbourhood is theirs (a carton seen as a 2 px strip between a beam and the frame
    edge is no annotatable package). Their pixels become background."""
    padded = np.pad(owner, 1, constant_values=-1)  # outside the frame is nobody's
    height, width = owner.shape
    core = np.ones(owner.shape, dtype=bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            core &= padded[dy : dy + height, dx : dx + width] == owner
    counts = np.bincount(owner[core].ravel(), minlength=int(owner.max()) + 1)
    thin = np.flatnonzero(counts < min_core)
    return np.where(np.isin(owner, thin[thin > 0]), 0, owner)


def _collect(image: np.ndarray, owner: np.ndarray, categories: list[str], domain: str, seed: int) -> Scene:
    """Turn the ownership map into instances, dropping slivers (their pixels become background)."""
    height, width = owner.shape
    areas = np.bincount(owner.ravel(), minlength=len(categories) + 1)
    min_area = max(12.0, MIN_VISIBLE_FRACTION * height * width)
    remap = np.zeros(len(categories) + 1, dtype=np.int32)
    kept: list[str] = []
    for ident in range(1, len(categories) + 1):
        if areas[ident] >= min_area:
            kept.append(categories[ident - 1])
            remap[ident] = len(kept)
    labels = remap[owner]
    instances = [SceneInstance(labels == i + 1, name) for i, name in enumerate(kept)]
    return Scene(image=image, instances=instances, labels=labels, domain=domain, seed=seed)

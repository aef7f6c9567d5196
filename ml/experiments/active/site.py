"""The simulated new site: captures of a belt or floor in the four domains at the site's scale, a share at
night and a share holding one customer's branded parcels, written as COCO with their condition flags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

DOMAIN_ORDER = ("conveyor_topdown", "tote_oblique", "floor_pile", "pallet_stack")
STRIP = 1.5  # a capture's strip of belt or floor, in frame widths
CONDITIONS = (
    "night",
    "branded",
)  # per-capture flags of site_scenes; the report gives each one's share of the labels
CONDITION_GROUPS = (
    "night",
    "branded_day",
    "plain_day",
)  # the val set's parts in the report (condition_group)


def night_shift(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dim, blue-cast, noisy version of an RGB uint8 image (lighting the base never saw)."""
    x = image.astype(np.float32) / 255.0
    x = x**1.6 * rng.uniform(0.35, 0.5)
    x = x * np.array([0.55, 0.75, 1.25], dtype=np.float32)
    x = x + rng.normal(0.0, 0.03, size=x.shape).astype(np.float32)
    return (np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)


BRANDED_KINDS = ("padded_mailer", "plastic_bag", "envelope")
BRANDED_DARK, BRANDED_LIGHT = (150.0, 30.0, 90.0), (250.0, 120.0, 190.0)  # RGB at black and at white


def branded(scene, rng: np.random.Generator):
    """``scene`` with its mailers, bags and envelopes in one customer's pink branding (a parcel look the
    base never saw; it reads them as background: on 64 such scenes its mask AP is 0.13 against 0.41).
    Each pixel keeps its brightness, so shading, bubbles and labels stay; the hue varies per capture."""
    img = scene.image.astype(np.float32)
    brightness = img.mean(axis=2, keepdims=True) / 255.0
    shift = rng.uniform(-20.0, 20.0, size=3)
    dark, light = np.asarray(BRANDED_DARK) + shift, np.asarray(BRANDED_LIGHT) + shift
    recoloured = dark + brightness * (light - dark)
    owners = [i + 1 for i, inst in enumerate(scene.instances) if inst.category in BRANDED_KINDS]
    where = np.isin(scene.labels, owners)
    img[where] = recoloured[where]
    scene.image = np.clip(img, 0, 255).astype(np.uint8)
    return scene


def frame_jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The frame-to-frame change of one camera: exposure within +-8 % and fresh sensor noise."""
    x = image.astype(np.float32) * rng.uniform(0.92, 1.08)
    x = x + rng.normal(0.0, 2.0, size=x.shape).astype(np.float32)
    return np.clip(x, 0, 255).astype(np.uint8)


def site_scenes(
    count: int, seed: int, size: int, night_share: float, frames: int = 1, branded_share: float = 0.0
) -> list[dict[str, Any]]:
    """``count`` images of the new site: image, COCO annotations (image id = index + 1), condition, capture.

    A site's images come from its cameras: each *capture* renders a strip of belt or floor
    ``STRIP`` times as wide as a frame, and its ``frames`` images are windows sliding along it
    (the belt moved between shots), each with its own exposure and noise. Frames of one capture
    share the domain and the lighting (a share ``night_share`` of the captures is at night). A share
    ``branded_share`` of the captures, drawn independently, holds one customer's branded parcels
    (``branded``).
    ``frames=1`` gives independent images: one window at a random place per capture.
    """
    from ml.synth import CATEGORIES, DOMAINS, crop_scene, generate_scene
    from ml.synth.dataset import scene_annotations

    if frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    rng = np.random.default_rng(seed)
    captures = -(-count // frames)
    night = set(rng.choice(captures, size=round(night_share * captures), replace=False).tolist())
    brand_rng = np.random.default_rng([seed, 1])  # its own stream: pools without branding stay as they were
    brandable = {
        d for d in DOMAIN_ORDER if any(DOMAINS[d].weights[CATEGORIES.index(k)] for k in BRANDED_KINDS)
    }
    mailing = [
        c for c in range(captures) if DOMAIN_ORDER[c % len(DOMAIN_ORDER)] in brandable
    ]  # not boxes-only
    brand = set(
        brand_rng.choice(
            mailing, size=min(len(mailing), round(branded_share * captures)), replace=False
        ).tolist()
    )
    strip = round(size * STRIP)
    scenes: list[dict[str, Any]] = []
    for c in range(captures):
        scene = generate_scene(DOMAIN_ORDER[c % len(DOMAIN_ORDER)], seed * 100_003 + c, (size, strip))
        scene = branded(scene, brand_rng) if c in brand else scene
        lefts = np.linspace(0, strip - size, frames) if frames > 1 else [rng.integers(0, strip - size + 1)]
        for left in lefts[: count - len(scenes)]:
            frame = crop_scene(scene, 0, int(round(left)), (size, size))
            image = frame_jitter(frame.image, rng)
            image = night_shift(image, rng) if c in night else image
            i = len(scenes)
            scenes.append(
                {
                    "id": i + 1,
                    "image": image,
                    "domain": scene.domain,
                    "night": c in night,
                    "branded": c in brand,
                    "capture": c,
                    "annotations": scene_annotations(frame, i + 1, 1),
                }
            )
    return scenes


def write_coco(scenes: list[dict[str, Any]], folder: Path, name: str) -> Path:
    """``folder/name`` (COCO) over ``scenes``, images under ``folder/images`` (written once). Each image
    entry keeps the scene's ``CONDITIONS`` flags (extra COCO fields; pycocotools ignores them)."""
    from ml.synth.dataset import coco_categories

    (folder / "images").mkdir(parents=True, exist_ok=True)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for s in scenes:
        file_name = f"images/{s['id']:05d}.png"
        if not (folder / file_name).exists():
            cv2.imwrite(str(folder / file_name), cv2.cvtColor(s["image"], cv2.COLOR_RGB2BGR))
        h, w = s["image"].shape[:2]
        images.append(
            {
                "id": s["id"],
                "file_name": file_name,
                "height": h,
                "width": w,
                **{c: bool(s[c]) for c in CONDITIONS if c in s},
            }
        )
        for ann in s["annotations"]:
            annotations.append({**ann, "id": len(annotations) + 1})
    path = folder / name
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": coco_categories()})
    )
    return path


def condition_group(image: dict[str, Any]) -> str:
    """The part of the val set an image (a scene, or its COCO entry from ``write_coco``) belongs to: night
    frames, branded or not; branded day frames; plain day frames."""
    return "night" if image["night"] else "branded_day" if image["branded"] else "plain_day"

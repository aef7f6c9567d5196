"""The simulated teams' data: synthetic scenes of one domain seen through a *site camera*.

Real cameras differ from the renderer in ways every site shares (optics blur, sensor noise,
a flatter tone curve) and in ways that are the site's own (the colour of its lights, its
exposure). So data a team contributes teaches the base something about every other site too,
which is what the fleet loop bets on; the proof measures whether that bet pays.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ml.synth import generate_scene
from ml.synth.dataset import coco_categories, scene_annotations


@dataclass(frozen=True)
class Team:
    name: str
    domain: str
    cast: tuple[float, float, float]  # per-channel gain of the site's lights (RGB)
    exposure: float


TEAMS = (
    Team("team1", "conveyor_topdown", (1.18, 1.0, 0.8), 1.05),
    Team("team2", "tote_oblique", (0.8, 0.95, 1.2), 0.8),
    Team("team3", "floor_pile", (0.95, 1.12, 0.85), 0.7),
)


def site_camera(image: np.ndarray, team: Team, rng: np.random.Generator) -> np.ndarray:
    """What the team's camera makes of a rendered RGB uint8 scene (same geometry, so masks still hold)."""
    x = cv2.GaussianBlur(image, (0, 0), 1.0).astype(np.float32) / 255.0
    x = 0.15 + 0.7 * x**1.3  # flatter tone curve with lifted blacks
    x = x * np.asarray(team.cast, np.float32) * team.exposure * rng.uniform(0.85, 1.15)
    x = x + rng.normal(0.0, 0.035, size=x.shape).astype(np.float32)
    return (np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)


def write_team_split(team: Team, out_dir: Path, *, count: int, seed: int, size: int) -> Path:
    """``count`` scenes of the team's domain through its camera as ``out_dir/annotations.json`` + images."""
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for i in range(count):
        scene = generate_scene(team.domain, seed * 1_000 + i, (size, size))
        name = f"images/{team.name}_{i:05d}.png"
        cv2.imwrite(str(out_dir / name), cv2.cvtColor(site_camera(scene.image, team, rng), cv2.COLOR_RGB2BGR))
        images.append({"id": i + 1, "file_name": name, "height": size, "width": size})
        annotations.extend(scene_annotations(scene, i + 1, len(annotations) + 1))
    path = out_dir / "annotations.json"
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": coco_categories()})
    )
    return path

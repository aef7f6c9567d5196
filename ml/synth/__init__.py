"""Procedural warehouse scenes with exact modal instance masks (see :mod:`ml.synth.scene`)."""

from ml.synth.camera import camera_effects, camera_warp
from ml.synth.dataset import write_dataset
from ml.synth.scene import (
    ALL_DOMAINS,
    CATEGORIES,
    DOMAINS,
    PHOTO_DOMAINS,
    Scene,
    SceneInstance,
    camera_augment,
    crop_scene,
    generate_scene,
)

__all__ = [
    "ALL_DOMAINS",
    "CATEGORIES",
    "DOMAINS",
    "PHOTO_DOMAINS",
    "Scene",
    "SceneInstance",
    "camera_augment",
    "camera_effects",
    "camera_warp",
    "crop_scene",
    "generate_scene",
    "write_dataset",
]

"""Procedural warehouse scenes with exact modal instance masks (see :mod:`ml.synth.scene`)."""

from ml.synth.dataset import write_dataset
from ml.synth.scene import CATEGORIES, DOMAINS, Scene, SceneInstance, crop_scene, generate_scene

__all__ = ["CATEGORIES", "DOMAINS", "Scene", "SceneInstance", "crop_scene", "generate_scene", "write_dataset"]

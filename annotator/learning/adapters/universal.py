"""The universal instance-segmentation model behind pre-labels and uncertainty scores."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings

from annotator.projects.models import Image

from .images import load_rgb
from .threads import torch_threads

_lock = threading.Lock()


@lru_cache(maxsize=4)
def _predictor(checkpoint: str):
    from ml.universal.predictor import UniversalPredictor

    return UniversalPredictor.from_checkpoint(checkpoint)


@dataclass
class ImagePrediction:
    instances: list[dict[str, Any]]  # [{category (project category id), shape, score}]
    uncertainty: float
    features: list[float]


def predict(*, image: Image, checkpoint: str) -> ImagePrediction:
    """Run the model on a stored image; categories mapped to the project's through ``universal_name``."""
    # One forward pass at a time per process keeps memory flat on small workers.
    with _lock, torch_threads(settings.ANNOTATOR["PRELABEL_THREADS"]):
        result = _predictor(checkpoint).predict(load_rgb(image))
    by_universal = {
        c.universal_name: c.id for c in image.project.categories.exclude(universal_name="")
    }
    instances = [
        {"category": by_universal[inst.category], "shape": inst.shape, "score": round(float(inst.score), 4),
         "source": "model"}
        for inst in result.instances
        if inst.category in by_universal and inst.shape
    ]
    return ImagePrediction(instances, float(result.uncertainty), [round(float(v), 5) for v in result.features])

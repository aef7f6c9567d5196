"""The universal instance-segmentation model behind pre-labels and uncertainty scores."""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings

from annotator.projects.models import Image
from annotator.projects.pixels import load_rgb
from annotator.torch_threads import torch_threads

_lock = threading.Lock()


def _stamp(path: str | Path) -> tuple[int, int, int]:
    """What changes when a file is rewritten or replaced in place: inode, size, mtime (ns)."""
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns


def _predictor(checkpoint: str):
    return _predictor_at(str(checkpoint), _stamp(checkpoint))


@lru_cache(maxsize=4)
def _predictor_at(checkpoint: str, stamp: tuple[int, int, int]):
    # Keyed by the file's stamp too: a checkpoint replaced in place is loaded again, never served stale.
    from ml.universal.predictor import UniversalPredictor

    return UniversalPredictor.from_checkpoint(checkpoint)


def prelabel_threshold(checkpoint: str | Path) -> float:
    """The pre-label score threshold the checkpoint's calibration chose (0: every shape, uncalibrated)."""
    return float(_predictor(str(checkpoint)).default_threshold)


def checkpoint_sha256(path: str | Path) -> str:
    """sha256 of a checkpoint file, hashed again only when the file changes (cheap to call per request)."""
    return _sha256_at(str(path), _stamp(path))


@lru_cache(maxsize=8)
def _sha256_at(path: str, stamp: tuple[int, int, int]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_store(source: Path, folder: Path) -> tuple[Path, str]:
    """Copy a checkpoint into ``folder`` under a name from its content; returns (copy, sha256 of the copy).

    The copy is hashed as it is written, so it is exactly the content its name and sha say even
    if ``source`` is replaced meanwhile; the rename makes it appear whole to other processes.
    """
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    tmp = folder / f".incoming-{os.getpid()}-{threading.get_ident()}.pt"
    with open(source, "rb") as src, open(tmp, "wb") as dst:
        for block in iter(lambda: src.read(1 << 20), b""):
            digest.update(block)
            dst.write(block)
    sha = digest.hexdigest()
    target = folder / f"universal-base-{sha[:12]}.pt"
    tmp.replace(target)
    return target, sha


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
    by_universal = {c.universal_name: c.id for c in image.project.categories.exclude(universal_name="")}
    instances = [
        {
            "category": by_universal[inst.category],
            "shape": inst.shape,
            "score": round(float(inst.score), 4),
            "source": "model",
        }
        for inst in result.instances
        if inst.category in by_universal and inst.shape
    ]
    return ImagePrediction(
        instances, float(result.uncertainty), [round(float(v), 5) for v in result.features]
    )

"""Builders for the learning-loop tests: tiny real checkpoints, images with known objects, reviews."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.files.base import ContentFile
from PIL import Image as PILImage

from annotator.annotations.services import annotations_save, image_review, image_submit
from annotator.projects.ingest import _split_for_new_image
from annotator.projects.models import Image
from ml.synth import CATEGORIES
from ml.universal.checkpoint import make_meta, save_checkpoint
from ml.universal.model import build_model

SIZE = 64


def tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """A randomly initialised extra-small universal model, saved with the real checkpoint format."""
    torch.manual_seed(seed)
    return save_checkpoint(path, build_model("unet_xs", len(CATEGORIES)), make_meta("unet_xs", CATEGORIES, SIZE))


def scene(seed: int) -> tuple[bytes, list[tuple[int, int, int]]]:
    """A PNG with 1-2 bright squares on a dark noisy floor, and the squares as (x, y, size)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(20, 60, size=(SIZE, SIZE, 3)).astype(np.uint8)
    squares = []
    for _ in range(int(rng.integers(1, 3))):
        size = int(rng.integers(14, 24))
        x, y = (int(v) for v in rng.integers(2, SIZE - size - 2, size=2))
        if any(abs(x - a) < size + 2 and abs(y - b) < size + 2 for a, b, _ in squares):
            continue
        pixels[y:y + size, x:x + size] = (200, 140, 60)
        squares.append((x, y, size))
    buf = io.BytesIO()
    PILImage.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue(), squares


def square(x: int, y: int, size: int) -> list:
    return [[[[x, y], [x + size, y], [x + size, y + size], [x, y + size]]]]


def add_images(project, count: int, *, first_seed: int = 0) -> list[Image]:
    """Images stored like uploads (content-addressed file, split by the ingest rule), status new."""
    created = []
    for seed in range(first_seed, first_seed + count):
        data, squares = scene(seed)
        sha = hashlib.sha256(data).hexdigest()
        image = Image(project=project, name=f"scene-{seed}.png", sha256=sha, file_ext="png", width=SIZE,
                      height=SIZE, split=_split_for_new_image(project))
        image.file.save(f"{sha}.png", ContentFile(data), save=False)
        image.save()
        image.squares = squares
        created.append(image)
    return created


def accept(image: Image, users, *, category_name: str = "cardboard_box", shapes: list | None = None) -> Image:
    """Annotate (the true squares unless ``shapes`` is given), submit and accept, as real users do."""
    category = image.project.categories.get(name=category_name)
    if shapes is None:
        shapes = [square(*sq) for sq in scene(int(image.name.split("-")[1].split(".")[0]))[1]]
    image.refresh_from_db()
    image = annotations_save(image=image, user=users["annotator"], expected_version=image.version,
                             annotations=[{"category": category.id, "shape": s} for s in shapes])
    image = image_submit(image=image, user=users["annotator"], expected_version=image.version)
    return image_review(image=image, user=users["reviewer"], decision="accept", expected_version=image.version)


@pytest.fixture
def base_checkpoint(tmp_path, settings, monkeypatch):
    """The 'shipped base' for these tests: a tiny random model; the worker sees it through the env."""
    path = tiny_checkpoint(tmp_path / "base.pt", seed=0)
    settings.ANNOTATOR = {**settings.ANNOTATOR, "UNIVERSAL_CHECKPOINT": str(path)}
    monkeypatch.setenv("UNIVERSAL_CHECKPOINT", str(path))
    return path

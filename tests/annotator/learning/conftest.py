"""Builders for the learning-loop tests: tiny real checkpoints, images with known objects, reviews."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.base import ContentFile

from annotator.annotations.services import annotations_save, image_review, image_submit
from annotator.projects.models import Image
from tests.annotator.learning.scenes import SIZE, scene, square, tiny_checkpoint


def add_images(project, count: int, *, first_seed: int = 0, val: int = 20) -> list[Image]:
    """Images stored like uploads (content-addressed file), status new; the first ``val`` in the val split.

    Uploads split by a hash of the content (``ingest.image_split_for``, tested in tests/annotator/projects);
    these tests set the split by position instead, so that each knows which images train and which validate.
    """
    created = []
    for seed in range(first_seed, first_seed + count):
        data, squares = scene(seed)
        sha = hashlib.sha256(data).hexdigest()
        image = Image(
            project=project,
            name=f"scene-{seed}.png",
            sha256=sha,
            file_ext="png",
            width=SIZE,
            height=SIZE,
            split=Image.Split.VAL if seed - first_seed < val else Image.Split.TRAIN,
        )
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
    image = annotations_save(
        image=image,
        user=users["annotator"],
        expected_version=image.version,
        annotations=[{"category": category.id, "shape": s} for s in shapes],
    )
    image = image_submit(image=image, user=users["annotator"], expected_version=image.version)
    return image_review(
        image=image, user=users["reviewer"], decision="accept", expected_version=image.version
    )


@pytest.fixture
def base_checkpoint(tmp_path, settings, monkeypatch):
    """The 'shipped base' for these tests: a tiny random model; the worker sees it through the env."""
    path = tiny_checkpoint(tmp_path / "base.pt", seed=0)
    settings.ANNOTATOR = {**settings.ANNOTATOR, "UNIVERSAL_CHECKPOINT": str(path)}
    monkeypatch.setenv("UNIVERSAL_CHECKPOINT", str(path))
    return path


@pytest.fixture
def training_epochs() -> int:
    """Epochs of a test training run (one step each with 4 train images); parametrize to change."""
    return 150


@pytest.fixture
def training_worker(request, base_checkpoint, training_epochs, monkeypatch):
    """A real worker whose training runs are tiny: fixed epochs, one thread, a learning rate for 64 px squares."""
    monkeypatch.setenv("ANNOTATOR_TRAINING_EPOCHS", str(training_epochs))
    monkeypatch.setenv("ANNOTATOR_TRAINING_BUDGET_SECONDS", "120")
    monkeypatch.setenv("ANNOTATOR_TRAINING_LR", "0.003")
    monkeypatch.setenv("ANNOTATOR_TRAINING_THREADS", "1")
    return request.getfixturevalue("celery_worker")


@pytest.fixture(scope="session")
def good_checkpoint(tmp_path_factory):
    """A tiny model that already segments the test squares well (trained once per session)."""
    from tests.annotator.learning.scenes import trained_checkpoint

    return trained_checkpoint(tmp_path_factory.mktemp("good-model"), seeds=range(30, 42), epochs=80)

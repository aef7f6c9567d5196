"""Builders for the fleet-loop tests: projects with their own category names, a trained tiny base, fast settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotator.learning.models import ModelVersion, TrainingRun
from annotator.projects.models import Membership, Role
from annotator.projects.services import project_create
from ml import geometry
from ml.synth import CATEGORIES
from ml.universal.train import train
from tests.annotator.learning.conftest import SIZE, scene, tiny_checkpoint
from tests.conftest import wait_for
from tests.reliability.worker_kill import slowed  # noqa: F401 - the base-run kill test's fixture

# Base runs in tests: 64 px scenes, 2 synthetic scenes to train on and 2 held out, a fixed
# number of epochs at a high learning rate so the tiny model learns the squares in seconds.
FAST_BASE_ENV = {
    "ANNOTATOR_UNIVERSAL_SCENE_SIZE": "64",
    "ANNOTATOR_UNIVERSAL_SYNTHETIC_TRAIN_SCENES": "2",
    "ANNOTATOR_UNIVERSAL_SYNTHETIC_VAL_SCENES": "2",
    # 40 epochs passed on one machine but left the candidate at AP 0 on another (same code and
    # packages, another CPU): a knife edge. 80 gave AP 0.84 there.
    "ANNOTATOR_UNIVERSAL_EPOCHS": "80",
    "ANNOTATOR_UNIVERSAL_LR": "0.01",
    # Caps far above what the fixed epochs need: the epoch count, not the machine's load, decides
    # how much a test model learns (a budget cut on a busy machine made the gate outcome flaky).
    "ANNOTATOR_UNIVERSAL_BUDGET_SECONDS": "1200",
    "ANNOTATOR_UNIVERSAL_GATE_TOLERANCE": "0.05",
    "ANNOTATOR_TRAINING_EPOCHS": "2",  # the project runs a rebase starts
    "ANNOTATOR_TRAINING_BUDGET_SECONDS": "600",
}


@pytest.fixture
def fast_base_env(monkeypatch, settings):
    """Environment for the worker (and the same settings in this process) that keeps base runs small."""

    def apply(**overrides: str) -> None:
        for key, value in {**FAST_BASE_ENV, **overrides}.items():
            monkeypatch.setenv(key, value)  # the worker reads it when its settings load
            number = float(value)
            name = key.removeprefix("ANNOTATOR_")
            settings.ANNOTATOR = {**settings.ANNOTATOR, name: int(number) if number.is_integer() else number}

    apply()
    return apply


def team_project(users, name: str, categories: list[str]):
    """A project whose categories are its own names (none in the universal taxonomy yet)."""
    project = project_create(name=name, user=users["admin"], categories=categories)
    for role in ("reviewer", "annotator"):
        Membership.objects.update_or_create(project=project, user=users[role], defaults={"role": Role(role)})
    return project


def opt_in(client, project, mapping: dict[str, str]) -> None:
    """Map ``project``'s categories into the universal taxonomy through the API and opt it in to contributing."""
    ids = {c.name: c.id for c in project.categories.all()}
    saved = client.put(
        f"/api/v1/projects/{project.pk}/taxonomy",
        {"mapping": {str(ids[name]): target for name, target in mapping.items()}},
        format="json",
    )
    assert saved.status_code == 200, saved.json()
    opted = client.put(f"/api/v1/projects/{project.pk}/contribution", {"contribute": True}, format="json")
    assert opted.status_code == 200 and opted.json()["contribute"] is True


def squares_coco(folder: Path, seeds, category: str) -> Path:
    """The learning tests' square scenes as a COCO file (all squares in ``category``)."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i, seed in enumerate(seeds):
        data, squares = scene(seed)
        (folder / "images" / f"{seed}.png").write_bytes(data)
        images.append({"id": i + 1, "file_name": f"images/{seed}.png", "width": SIZE, "height": SIZE})
        for x, y, size in squares:
            shape = [[[[x, y], [x + size, y], [x + size, y + size], [x, y + size]]]]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": CATEGORIES.index(category) + 1,
                    "segmentation": geometry.shape_to_coco_polygons(shape),
                    "bbox": geometry.shape_bbox(shape),
                    "area": geometry.shape_area(shape),
                    "iscrowd": 0,
                }
            )
    path = folder / "annotations.json"
    path.write_text(
        json.dumps(
            {
                "images": images,
                "annotations": anns,
                "categories": [{"id": i + 1, "name": n} for i, n in enumerate(CATEGORIES)],
            }
        )
    )
    return path


def trained_base(folder: Path, category: str) -> tuple[Path, float]:
    """A tiny base that already finds the squares as ``category``; returns it and its AP on held-out squares."""
    start = tiny_checkpoint(folder / "random.pt")
    train_coco = squares_coco(folder / "train", range(500, 512), category)
    val_coco = squares_coco(folder / "val", range(600, 606), category)
    result = train(
        {
            "init": str(start),
            "data": {"coco": str(train_coco)},
            "val": {"coco": str(val_coco)},
            "epochs": 20,
            "batch_size": 4,
            "lr": 1e-2,
            "out": str(folder / "trained.pt"),
            "threads": 1,
        }
    )
    return Path(result["checkpoint"]), float(result["mask_ap"])


def wait_finished(run_id: int, worker, timeout: float = 420) -> TrainingRun:
    def finished():
        run = TrainingRun.objects.filter(pk=run_id).first()
        return run if run is not None and run.is_finished else None

    return wait_for(finished, timeout=timeout, what=f"training run {run_id}\n{worker.log()[-4000:]}")


def base_names() -> list[str]:
    return list(
        ModelVersion.objects.filter(project__isnull=True).order_by("id").values_list("name", flat=True)
    )


@pytest.fixture(scope="session")
def _trained_bases(tmp_path_factory):
    """Tiny bases that find the squares, one per class; trained once per test session (seconds)."""
    cache: dict[str, tuple[Path, float]] = {}

    def get(category: str) -> tuple[Path, float]:
        if category not in cache:
            cache[category] = trained_base(tmp_path_factory.mktemp(f"base_{category}"), category)
        return cache[category]

    return get


def _ship(settings, monkeypatch, checkpoint: Path) -> Path:
    settings.ANNOTATOR = {**settings.ANNOTATOR, "UNIVERSAL_CHECKPOINT": str(checkpoint)}
    monkeypatch.setenv("UNIVERSAL_CHECKPOINT", str(checkpoint))  # the worker reads it at start
    return checkpoint


@pytest.fixture
def envelope_base(_trained_bases, settings, monkeypatch) -> Path:
    """The shipped base for these tests: finds the squares but calls them envelopes (AP 0 for boxes).

    A trained model, not a random one: a random model's masses of noise instances make every
    evaluation slow, and the gate evaluates a lot.
    """
    return _ship(settings, monkeypatch, _trained_bases("envelope")[0])


@pytest.fixture
def box_base(_trained_bases, settings, monkeypatch) -> tuple[Path, float]:
    """The shipped base already finds the squares as cardboard boxes; returns it and its held-out AP."""
    checkpoint, ap = _trained_bases("cardboard_box")
    return _ship(settings, monkeypatch, checkpoint), ap

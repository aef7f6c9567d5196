"""Training data and the ``ml.universal`` fine-tune / evaluate calls behind a TrainingRun.

Accepted images are ground truth. They are written as a small COCO dataset (image files
copied out of storage, so S3 media works too) in the universal taxonomy: a project category
counts only if it names a ``universal_name``; shapes of project-only categories are left out
and counted in the data summary.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from annotator.annotations.models import Annotation
from annotator.projects.models import Image, ImageStatus, Project
from ml import geometry

FINE_TUNE_BATCH = 8


def universal_categories() -> list[str]:
    """The universal taxonomy, in COCO id order (id = index + 1)."""
    from ml.synth import CATEGORIES

    return list(CATEGORIES)


@dataclass
class CocoSplit:
    path: Path
    images: list[int]
    annotations: int = 0
    skipped_annotations: int = 0
    per_category: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "images": len(self.images),
            "annotations": self.annotations,
            "skipped_annotations": self.skipped_annotations,
            "per_category": self.per_category,
        }


def accepted_images(*, project: Project, split: str):
    return project.images.filter(status=ImageStatus.ACCEPTED, split=split).order_by("id")


def coco_from_images(*, images: list[Image], project: Project) -> tuple[dict[str, Any], dict[str, Any]]:
    """A COCO instances dict (universal category ids) from the images' current annotation sets."""
    names = universal_categories()
    to_universal = {
        c.id: names.index(c.universal_name) + 1 for c in project.categories.all() if c.universal_name in names
    }
    coco_images, coco_anns = [], []
    stats: dict[str, Any] = {"annotations": 0, "skipped_annotations": 0, "per_category": {}}
    by_image: dict[int, list[Annotation]] = {}
    for ann in Annotation.objects.filter(image__in=images).order_by("id"):
        by_image.setdefault(ann.image_id, []).append(ann)
    for image in images:
        coco_images.append(
            {
                "id": image.pk,
                "file_name": f"images/{image.pk}.{image.file_ext}",
                "width": image.width,
                "height": image.height,
            }
        )
        for ann in by_image.get(image.pk, []):
            category_id = to_universal.get(ann.category_id)
            if category_id is None or not ann.shape:
                stats["skipped_annotations"] += 1
                continue
            if geometry.shape_has_holes(ann.shape):
                segmentation: Any = geometry.shape_to_rle(ann.shape, image.height, image.width)
            else:
                segmentation = geometry.shape_to_coco_polygons(ann.shape)
            coco_anns.append(
                {
                    "id": len(coco_anns) + 1,
                    "image_id": image.pk,
                    "category_id": category_id,
                    "segmentation": segmentation,
                    "bbox": geometry.shape_bbox(ann.shape),
                    "area": geometry.shape_area(ann.shape),
                    "iscrowd": 0,
                }
            )
            name = names[category_id - 1]
            stats["per_category"][name] = stats["per_category"].get(name, 0) + 1
    stats["annotations"] = len(coco_anns)
    coco = {
        "info": {"description": f"accepted annotations of project {project.slug}"},
        "images": coco_images,
        "annotations": coco_anns,
        "categories": [{"id": i + 1, "name": n, "supercategory": "package"} for i, n in enumerate(names)],
    }
    return coco, stats


def write_split(*, project: Project, split: str, out_dir: Path) -> CocoSplit:
    """Write ``out_dir/<split>.json`` and copy the images into ``out_dir/images``."""
    images = list(accepted_images(project=project, split=split))
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    for image in images:
        target = out_dir / "images" / f"{image.pk}.{image.file_ext}"
        if not target.exists():
            with image.file.open("rb") as src:
                target.write_bytes(src.read())
    coco, stats = coco_from_images(images=images, project=project)
    path = out_dir / f"{split}.json"
    path.write_text(json.dumps(coco))
    return CocoSplit(
        path=path,
        images=[i.pk for i in images],
        annotations=stats["annotations"],
        skipped_annotations=stats["skipped_annotations"],
        per_category=stats["per_category"],
    )


def fine_tune(
    *,
    base_checkpoint: str,
    train: CocoSplit,
    val: CocoSplit,
    out_path: Path,
    budget_seconds: float,
    epochs: int | None,
    progress: Callable[[dict[str, Any]], None],
    should_stop: Callable[[], bool],
) -> dict[str, Any]:
    """Fine-tune from ``base_checkpoint``; returns the candidate's val metrics and ``checkpoint``.

    ``ml.universal.finetune.fine_tune`` (its learning rate, frozen BatchNorm, schedule), on the
    worker's thread count: torch's default of 2 threads is many times slower than 1 on a small
    shared worker. ``progress`` gets {epoch, epochs, loss, fraction, eta_seconds} per epoch;
    ``should_stop`` is polled between steps.
    """
    from ml.universal.finetune import FINE_TUNE_LR
    from ml.universal.finetune import fine_tune as ml_fine_tune

    conf = settings.ANNOTATOR
    return ml_fine_tune(
        base_checkpoint,
        train.path,
        val.path,
        out_path,
        budget_seconds=budget_seconds,
        epochs=epochs,
        progress=progress,
        should_stop=should_stop,
        batch_size=FINE_TUNE_BATCH,
        lr=conf["TRAINING_LR"] or FINE_TUNE_LR,
        seed=0,
        threads=conf["TRAINING_THREADS"],
    )


def evaluate(*, checkpoint: str, split: CocoSplit) -> dict[str, Any]:
    """Mask AP (and friends) of a checkpoint on a written split; JSON-safe floats."""
    from ml.universal.evaluate import evaluate_checkpoint

    return metrics_of(evaluate_checkpoint(checkpoint, str(split.path), str(split.path.parent)))


def metrics_of(result: dict[str, Any]) -> dict[str, Any]:
    """The evaluation keys of an ``ml.universal`` result, JSON-safe."""
    keys = ("mask_ap", "mask_ap50", "mask_ap75", "per_class", "images", "seconds_per_image")
    return {
        k: (round(float(result[k]), 5) if isinstance(result[k], float) else result[k])
        for k in keys
        if k in result
    }

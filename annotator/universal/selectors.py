"""Reads of the fleet loop: the taxonomy's effect, contributed data, the base lineage, a project's base update."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from annotator.annotations.models import Annotation
from annotator.learning.models import ModelVersion, TrainingRun
from annotator.learning.services import base_model_version
from annotator.projects.models import Image, ImageStatus, Project
from annotator.projects.selectors import universal_names

from .models import BaseEvaluation


def taxonomy_preview(*, project: Project, mapping: dict[int, str] | None = None) -> dict[str, Any]:
    """What a mapping (category id -> universal name, '' = project-only) would feed the base.

    Counts the accepted annotations per universal class (train and val splits apart) and lists
    the project-only categories; without ``mapping``, the saved one.
    """
    categories = list(project.categories.all())
    mapped = {
        c.id: (mapping.get(c.id, c.universal_name) if mapping is not None else c.universal_name)
        for c in categories
    }
    counts = {
        (row["category_id"], row["image__split"]): row["n"]
        for row in Annotation.objects.filter(image__project=project, image__status=ImageStatus.ACCEPTED)
        .values("category_id", "image__split")
        .annotate(n=Count("id"))
    }
    per_universal = {name: {"train": 0, "val": 0, "categories": []} for name in universal_names()}
    rows, project_only = [], []
    for c in categories:
        train, val = counts.get((c.id, Image.Split.TRAIN), 0), counts.get((c.id, Image.Split.VAL), 0)
        target = mapped[c.id]
        rows.append(
            {
                "category": c.id,
                "name": c.name,
                "universal_name": target,
                "changed": target != c.universal_name,
                "accepted_train": train,
                "accepted_val": val,
            }
        )
        if target:
            per_universal[target]["train"] += train
            per_universal[target]["val"] += val
            per_universal[target]["categories"].append(c.name)
        else:
            project_only.append({"category": c.id, "name": c.name, "accepted_annotations": train + val})
    contributed = sum(v["train"] for v in per_universal.values())
    return {
        "categories": rows,
        "universal": per_universal,
        "project_only": project_only,
        "contributes": project.contribute_to_universal,
        "annotations_contributed": contributed if project.contribute_to_universal else 0,
        "annotations_left_out": sum(p["accepted_annotations"] for p in project_only),
    }


def contributing_projects() -> QuerySet[Project]:
    return Project.objects.filter(contribute_to_universal=True).order_by("id")


def base_training_images() -> QuerySet[Image]:
    """What the next base run trains on: accepted train-split images of opted-in projects (val splits gate)."""
    return Image.objects.filter(
        project__contribute_to_universal=True, status=ImageStatus.ACCEPTED, split=Image.Split.TRAIN
    ).order_by("project_id", "id")


def base_runs() -> QuerySet[TrainingRun]:
    return TrainingRun.objects.filter(project__isnull=True).select_related(
        "result_version", "base_version", "requested_by"
    )


def contributed_since_last_base_run() -> int:
    """Contributed images accepted after the latest base run was created (all of them before the first)."""
    images = base_training_images()
    last = base_runs().order_by("-created_at").values_list("created_at", flat=True).first()
    if last is not None:
        images = images.filter(status_changed_at__gt=last)
    return images.count()


def base_versions() -> QuerySet[ModelVersion]:
    return (
        ModelVersion.objects.filter(project__isnull=True)
        .select_related("parent")
        .order_by("created_at", "id")
    )


def base_lineage() -> list[dict[str, Any]]:
    """Every base version with its parent, status, data summary and the project versions grown from it."""
    children: dict[int, list[dict[str, Any]]] = {}
    for v in ModelVersion.objects.filter(project__isnull=False, parent__project__isnull=True).order_by("id"):
        children.setdefault(v.parent_id, []).append(
            {"id": v.pk, "name": v.name, "project": v.project_id, "status": v.status}
        )
    return [
        {
            "id": v.pk,
            "name": v.name,
            "parent": v.parent_id,
            "status": v.status,
            "created_at": v.created_at,
            "promoted_at": v.promoted_at,
            "metrics": v.metrics,
            "data_summary": v.data_summary,
            "training_images": len(v.training_images or []),
            "project_versions": children.get(v.pk, []),
        }
        for v in base_versions()
    ]


def base_root_of(version: ModelVersion | None) -> ModelVersion | None:
    """The base version a project version descends from (walking ``parent``)."""
    seen = set()
    while version is not None and version.project_id is not None and version.pk not in seen:
        seen.add(version.pk)
        version = version.parent
    return version


def latest_evaluation(*, version: ModelVersion, project: Project | None) -> BaseEvaluation | None:
    return BaseEvaluation.objects.filter(version=version, project=project).first()


def base_update_for(*, project: Project) -> dict[str, Any]:
    """Whether a newer base than the one under the project's model exists, with figures on its val split.

    A project with its own active model is on that model's root base. A project without one
    follows the current base for pre-labels, but has not fine-tuned from it until one of its
    versions (or an active run) starts from it.
    """
    base = base_model_version()
    if base is None:
        return {"available": False, "base": None}
    active = project.active_model
    on_base = base_root_of(active) if active is not None else None
    started_from_base = (
        ModelVersion.objects.filter(project=project, parent=base)
        .exclude(status=ModelVersion.Status.FAILED)
        .exists()
        or TrainingRun.objects.filter(
            project=project, base_version=base, status__in=("pending", "running")
        ).exists()
    )
    newer = (
        base.parent_id is not None and (on_base is None or on_base.pk != base.pk) and not started_from_base
    )
    compared = active or base.parent
    new_eval = latest_evaluation(version=base, project=project)
    current_eval = None
    if compared is not None and compared.project_id is None:
        current_eval = latest_evaluation(version=compared, project=project)
    elif compared is not None:
        current_eval = compared.metrics.get("mask_ap") if compared.metrics else None
    current_ap = current_eval.mask_ap if isinstance(current_eval, BaseEvaluation) else current_eval
    return {
        "available": newer,
        "base": {
            "id": base.pk,
            "name": base.name,
            "promoted_at": base.promoted_at,
            "mask_ap_on_your_val": new_eval.mask_ap if new_eval else None,
            "val_images": new_eval.images if new_eval else None,
        },
        "current": {"id": compared.pk, "name": compared.name, "mask_ap_on_your_val": current_ap}
        if compared is not None
        else None,
        "on_base": on_base.name if on_base is not None else None,
    }

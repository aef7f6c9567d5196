"""Reading an uploaded COCO file against a project: a report of every problem and a plan.

Nothing here writes. ``coco_analyse`` returns an ``Analysis``: the JSON report shown to the
user (problems, category mapping preview, plan summary with a digest) and the in-memory plan
that ``annotator.datasets.imports`` applies once the user accepts it. The digest lets the
accept step prove it applies exactly the plan the user saw.

Problems carry ``severity``: ``fatal`` (the file cannot be imported at all), ``error`` (this
annotation or image is skipped), ``warning`` (imported after a repair), ``note`` (ignored data).
Real-tool quirks handled here: category id 0 is a real class; ``segmentation: []`` with a bbox
becomes a rectangle; RLE counts may be a list or a string; keypoints and unknown fields are
ignored with a note.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections import Counter
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings

from annotator.annotations.models import Annotation
from annotator.projects.models import Category, Project

from .coco_images import resolve_images
from .coco_plan import PlannedImage, Problems, is_int
from .coco_shapes import shape_of

GROUND_TRUTH = "ground_truth"
PREDICTIONS = "predictions"
KNOWN_ANNOTATION_KEYS = {
    "id",
    "image_id",
    "category_id",
    "segmentation",
    "area",
    "bbox",
    "iscrowd",
    "score",
    "multipolygon",
    "keypoints",
    "num_keypoints",
}
KNOWN_IMAGE_KEYS = {
    "id",
    "file_name",
    "width",
    "height",
    "license",
    "date_captured",
    "coco_url",
    "flickr_url",
    "split",
    "status",
}


class CocoFileError(Exception):
    """The file as a whole cannot be imported; ``code`` and message say why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Analysis:
    report: dict[str, Any]
    images: list[PlannedImage]
    categories_to_create: list[dict[str, Any]]

    @property
    def digest(self) -> str:
        return self.report["plan"]["digest"]


def load_coco_json(fp: IO[bytes]) -> dict[str, Any]:
    """Parse an uploaded COCO instances file; raises ``CocoFileError`` for anything not COCO-shaped."""
    limit = settings.ANNOTATOR.get("MAX_IMPORT_JSON_BYTES", 512 * 1024 * 1024)
    raw = fp.read(limit + 1)
    if len(raw) > limit:
        raise CocoFileError("file_too_large", f"the annotations file is larger than {limit // 2**20} MB")
    if not raw.strip():
        raise CocoFileError("not_json", "the annotations file is empty")
    try:
        data = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise CocoFileError("not_json", f"the annotations file is not UTF-8 text ({exc.reason})") from exc
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        raise CocoFileError("not_json", f"the annotations file is not valid JSON ({exc})") from exc
    if isinstance(data, list):
        raise CocoFileError(
            "not_coco",
            "the file is a JSON list (a COCO results file?); an instances file is an "
            "object with 'images', 'annotations' and 'categories'",
        )
    if not isinstance(data, dict):
        raise CocoFileError(
            "not_coco", "the file must be a JSON object with 'images', 'annotations', 'categories'"
        )
    for key in ("images", "annotations", "categories"):
        if key in data and not isinstance(data[key], list):
            raise CocoFileError("not_coco", f"'{key}' must be a list, got {type(data[key]).__name__}")
    if "images" not in data:
        raise CocoFileError("not_coco", "the file has no 'images' list")
    return data


def coco_analyse(
    *,
    project: Project,
    coco: dict[str, Any],
    archive: zipfile.ZipFile | None,
    mode: str,
    create_categories: bool = False,
) -> Analysis:
    """Check ``coco`` against the project (and the images zip, if any); report and plan."""
    problems = Problems()
    categories, mapping_preview, to_create = _map_categories(
        project, coco.get("categories", []), problems, create_categories
    )
    images = resolve_images(project, coco["images"], archive, problems)
    annotations = coco.get("annotations", [])
    keypoint_ids: list[Any] = []
    extra_fields: Counter[str] = Counter()
    seen_ids: set[Any] = set()
    used_per_category: Counter[Any] = Counter()
    for index, ann in enumerate(annotations):
        if not isinstance(ann, dict):
            problems.add("error", "bad_annotation", f"annotations[{index}] is not an object")
            continue
        ann_id = ann.get("id")
        label = f"annotation {ann_id!r}"
        if not is_int(ann_id):
            problems.add(
                "error",
                "bad_annotation",
                f"annotations[{index}] has no integer 'id'",
                annotation_id=ann_id,
                image_id=ann.get("image_id"),
            )
            continue
        if ann_id in seen_ids:
            problems.add(
                "error",
                "duplicate_id",
                f"{label} appears more than once; only the first is used",
                annotation_id=ann_id,
                image_id=ann.get("image_id"),
            )
            continue
        seen_ids.add(ann_id)
        extra_fields.update(k for k in ann if k not in KNOWN_ANNOTATION_KEYS)
        if ann.get("keypoints") is not None:
            keypoint_ids.append(ann_id)
        image = images.get(ann.get("image_id")) if is_int(ann.get("image_id")) else None
        if image is None:
            problems.add(
                "error",
                "unknown_image",
                f"{label} refers to image {ann.get('image_id')!r}, which is "
                "not in the file's images or could not be matched",
                annotation_id=ann_id,
                image_id=ann.get("image_id"),
            )
            continue
        category_id = ann.get("category_id")
        category = categories.get(category_id) if is_int(category_id) else None
        if category is None:
            problems.add(
                "error",
                "missing_category",
                f"{label}: category {category_id!r} is not in the file's "
                "categories or has no match in the project",
                annotation_id=ann_id,
                image_id=image.coco_id,
            )
            continue
        if ann.get("iscrowd") in (1, True):
            problems.add(
                "error",
                "crowd_region",
                f"{label} is a crowd region (iscrowd=1), not one object; crowd regions are not imported",
                annotation_id=ann_id,
                image_id=image.coco_id,
            )
            continue
        shape = shape_of(ann, image, problems)
        if shape is None:
            continue
        score = None
        if mode == PREDICTIONS:
            score = ann.get("score", 1.0)
            if not isinstance(score, int | float) or isinstance(score, bool) or not 0 <= score <= 1:
                problems.add(
                    "warning",
                    "bad_score",
                    f"{label}: score {score!r} is not in [0, 1]; 1.0 is used",
                    annotation_id=ann_id,
                    image_id=image.coco_id,
                )
                score = 1.0
        used_per_category[category_id] += 1
        image.annotations.append(
            {
                "coco_id": ann_id,
                "category": category,
                "shape": shape,
                "score": None if score is None else float(score),
            }
        )
    if keypoint_ids:
        problems.add(
            "note",
            "keypoints_ignored",
            f"{len(keypoint_ids)} annotations carry keypoints; keypoints are "
            f"not imported (first ids: {keypoint_ids[:20]})",
            annotation_id=keypoint_ids[0],
        )
    if extra_fields:
        problems.add(
            "note",
            "extra_fields",
            "fields this importer does not use were ignored: "
            + ", ".join(f"{k} ({n}x)" for k, n in sorted(extra_fields.items())),
        )
    for preview in mapping_preview:
        preview["annotations"] = used_per_category.get(preview["coco_id"], 0)
    planned = list(images.values())
    report = {
        "problems": problems.items,
        "problem_counts": dict(problems.counts),
        "severity_counts": dict(problems.by_severity),
        "problems_truncated": sum(problems.counts.values()) > len(problems.items),
        "category_mapping_preview": mapping_preview,
        "plan": _plan_summary(project, planned, to_create, mode, len(annotations)),
    }
    return Analysis(report=report, images=planned, categories_to_create=to_create)


# --------------------------------------------------------------------------- categories


def _map_categories(project: Project, raw: list[Any], problems: Problems, create: bool):
    """COCO category id -> project Category id (or ``"new:<name>"``), by name, case-insensitive."""
    existing = list(Category.objects.filter(project=project).order_by("export_id"))
    by_name = {c.name: c for c in existing}
    by_folded = {c.name.strip().casefold(): c for c in existing}
    used_export_ids = {c.export_id for c in existing}
    mapping: dict[int, Any] = {}
    preview: list[dict[str, Any]] = []
    to_create: list[dict[str, Any]] = []
    for index, cat in enumerate(raw):
        if (
            not isinstance(cat, dict)
            or not is_int(cat.get("id"))
            or not isinstance(cat.get("name"), str)
            or not cat["name"].strip()
        ):
            problems.add("error", "bad_category", f"categories[{index}] needs an integer 'id' and a 'name'")
            continue
        coco_id, name = cat["id"], cat["name"].strip()[:100]
        if coco_id in mapping:
            problems.add(
                "error",
                "duplicate_id",
                f"category id {coco_id} appears more than once; the first "
                f"('{next(p['name'] for p in preview if p['coco_id'] == coco_id)}') is used",
            )
            continue
        match = by_name.get(name) or by_folded.get(name.casefold())
        if match is not None:
            mapping[coco_id] = match.id
            preview.append(
                {
                    "coco_id": coco_id,
                    "name": name,
                    "action": "map",
                    "category_id": match.id,
                    "category_name": match.name,
                    "export_id": match.export_id,
                }
            )
        elif create:
            export_id = (
                coco_id if coco_id >= 0 and coco_id not in used_export_ids else max(used_export_ids | {0}) + 1
            )
            used_export_ids.add(export_id)
            key = f"new:{name.casefold()}"
            if not any(c["key"] == key for c in to_create):
                to_create.append({"key": key, "name": name, "export_id": export_id})
            else:
                export_id = next(c["export_id"] for c in to_create if c["key"] == key)
            mapping[coco_id] = key
            preview.append(
                {
                    "coco_id": coco_id,
                    "name": name,
                    "action": "create",
                    "category_id": None,
                    "category_name": name,
                    "export_id": export_id,
                }
            )
        else:
            preview.append(
                {
                    "coco_id": coco_id,
                    "name": name,
                    "action": "missing",
                    "category_id": None,
                    "category_name": None,
                    "export_id": None,
                }
            )
            problems.add(
                "warning",
                "missing_category",
                f"category '{name}' (id {coco_id}) has no category of "
                "that name in the project; its annotations are skipped (or ask to create categories)",
                action="skipped",
            )
    return mapping, preview, to_create


# --------------------------------------------------------------------------- plan


def _plan_summary(project, planned: list[PlannedImage], to_create, mode: str, total_annotations: int):
    existing_ids = [p.existing_id for p in planned if p.existing_id]
    replaced = Annotation.objects.filter(image_id__in=existing_ids).count() if mode == GROUND_TRUTH else 0
    imported = sum(len(p.annotations) for p in planned)
    canonical = json.dumps(
        {
            "mode": mode,
            "project": project.id,
            "create": to_create,
            "images": [
                [
                    p.coco_id,
                    p.existing_id,
                    p.zip_member,
                    p.width,
                    p.height,
                    [[a["coco_id"], a["category"], a["shape"], a["score"]] for a in p.annotations],
                ]
                for p in planned
            ],
            "replaced": replaced,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return {
        "mode": mode,
        "images": len(planned),
        "images_existing": len(existing_ids),
        "images_created": len(planned) - len(existing_ids),
        "annotations": imported,
        "annotations_skipped": total_annotations - imported,
        "categories_created": [{"name": c["name"], "export_id": c["export_id"]} for c in to_create],
        "existing_annotations_replaced": replaced,
        "digest": hashlib.sha256(canonical.encode()).hexdigest(),
    }

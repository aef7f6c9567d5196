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
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO, Any

from django.conf import settings

from annotator.projects.ingest import FileRejected, decode_image
from annotator.projects.models import Category, Project
from ml import geometry

from . import selectors

GROUND_TRUTH = "ground_truth"
PREDICTIONS = "predictions"
MAX_STORED_PROBLEMS = 1000
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
class PlannedImage:
    coco_id: int
    file_name: str
    width: int
    height: int
    existing_id: int | None = None  # an image already in the project
    zip_member: str | None = None  # or a member of the uploaded zip, created on accept
    annotations: list[dict[str, Any]] = field(default_factory=list)  # {coco_id, category, shape, score}


@dataclass
class Analysis:
    report: dict[str, Any]
    images: list[PlannedImage]
    categories_to_create: list[dict[str, Any]]

    @property
    def digest(self) -> str:
        return self.report["plan"]["digest"]


class _Problems:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self.by_severity: Counter[str] = Counter()

    def add(
        self,
        severity: str,
        code: str,
        message: str,
        *,
        annotation_id: Any = None,
        image_id: Any = None,
        action: str | None = None,
    ) -> None:
        self.counts[code] += 1
        self.by_severity[severity] += 1
        if len(self.items) < MAX_STORED_PROBLEMS:
            self.items.append(
                {
                    "severity": severity,
                    "code": code,
                    "message": message,
                    "annotation_id": annotation_id,
                    "image_id": image_id,
                    "action": action
                    or {"error": "skipped", "warning": "repaired", "note": "ignored"}.get(severity),
                }
            )


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
    problems = _Problems()
    categories, mapping_preview, to_create = _map_categories(
        project, coco.get("categories", []), problems, create_categories
    )
    images = _resolve_images(project, coco["images"], archive, problems)
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
        if not _is_int(ann_id):
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
        image = images.get(ann.get("image_id")) if _is_int(ann.get("image_id")) else None
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
        category = categories.get(category_id) if _is_int(category_id) else None
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
        shape = _shape_of(ann, image, problems)
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


def _map_categories(project: Project, raw: list[Any], problems: _Problems, create: bool):
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
            or not _is_int(cat.get("id"))
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


# --------------------------------------------------------------------------- images


def _resolve_images(project, raw: list[Any], archive: zipfile.ZipFile | None, problems: _Problems):
    """COCO image id -> PlannedImage, matched in the zip or against the project's images."""
    lookup = selectors.project_images_by_name(project=project) if archive is None else None
    members = _zip_index(archive) if archive is not None else None
    images: dict[int, PlannedImage] = {}
    targets: dict[Any, int] = {}
    for index, img in enumerate(raw):
        if not isinstance(img, dict) or not _is_int(img.get("id")):
            problems.add("error", "bad_image", f"images[{index}] needs an integer 'id'")
            continue
        coco_id = img["id"]
        if coco_id in images:
            problems.add(
                "error",
                "duplicate_id",
                f"image id {coco_id} appears more than once; the first is used",
                image_id=coco_id,
            )
            continue
        file_name = img.get("file_name")
        if not isinstance(file_name, str) or not file_name.strip():
            problems.add("error", "bad_image", f"image {coco_id} has no 'file_name'", image_id=coco_id)
            continue
        declared = (img.get("width"), img.get("height"))
        if not all(_is_int(v) and v > 0 for v in declared):
            problems.add(
                "error",
                "bad_image",
                f"image {coco_id} ('{file_name}') needs positive integer 'width' and 'height'",
                image_id=coco_id,
            )
            continue
        if archive is not None:
            found = _match_member(archive, members, file_name, coco_id, problems)
            if found is None:
                continue
            member, (width, height, sha) = found
            existing = project.images.filter(sha256=sha).values_list("id", flat=True).first()
            key: Any = existing if existing else f"sha:{sha}"
            planned = PlannedImage(
                coco_id,
                file_name,
                width,
                height,
                existing_id=existing,
                zip_member=None if existing else member,
            )
        else:
            match = _match_existing(lookup, file_name, coco_id, problems)
            if match is None:
                continue
            existing, width, height = match
            key = existing
            planned = PlannedImage(coco_id, file_name, width, height, existing_id=existing)
        if (width, height) != declared:
            problems.add(
                "error",
                "size_mismatch",
                f"image {coco_id} ('{file_name}') is declared "
                f"{declared[0]}x{declared[1]} but the image is {width}x{height}; its annotations would "
                "land in the wrong place, so it is skipped",
                image_id=coco_id,
            )
            continue
        if key in targets:
            problems.add(
                "error",
                "duplicate_image",
                f"image {coco_id} ('{file_name}') is the same image as image "
                f"{targets[key]}; only the first is used",
                image_id=coco_id,
            )
            continue
        targets[key] = coco_id
        images[coco_id] = planned
    return images


def _match_existing(lookup, file_name: str, coco_id: int, problems: _Problems):
    if file_name in lookup["exact"]:
        return lookup["exact"][file_name]
    candidates = lookup["basename"].get(PurePosixPath(file_name.replace("\\", "/")).name, [])
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        problems.add(
            "error",
            "ambiguous_image",
            f"image {coco_id}: '{file_name}' matches {len(candidates)} "
            f"images of the project (ids {[c[0] for c in candidates][:10]})",
            image_id=coco_id,
        )
    else:
        problems.add(
            "error",
            "unknown_image",
            f"image {coco_id}: no image named '{file_name}' in the project",
            image_id=coco_id,
        )
    return None


def _zip_index(archive: zipfile.ZipFile) -> dict[str, Any]:
    exact: dict[str, zipfile.ZipInfo] = {}
    basename: dict[str, list[zipfile.ZipInfo]] = {}
    for info in archive.infolist():
        if info.is_dir():
            continue
        path = info.filename.replace("\\", "/")
        exact[path] = info
        basename.setdefault(PurePosixPath(path).name, []).append(info)
    return {"exact": exact, "basename": basename, "decoded": {}}


def _match_member(archive, members, file_name: str, coco_id: int, problems: _Problems):
    path = file_name.replace("\\", "/").lstrip("./")
    info = members["exact"].get(path)
    if info is None:
        candidates = members["basename"].get(PurePosixPath(path).name, [])
        if len(candidates) > 1:
            problems.add(
                "error",
                "ambiguous_image",
                f"image {coco_id}: '{file_name}' matches several files of the zip",
                image_id=coco_id,
            )
            return None
        info = candidates[0] if candidates else None
    if info is None:
        problems.add(
            "error",
            "unknown_image",
            f"image {coco_id}: '{file_name}' is not in the images zip",
            image_id=coco_id,
        )
        return None
    if info.filename not in members["decoded"]:
        members["decoded"][info.filename] = _probe_member(archive, info)
    probed = members["decoded"][info.filename]
    if isinstance(probed, str):
        problems.add(
            "error",
            "bad_image_file",
            f"image {coco_id}: '{info.filename}' in the zip {probed}",
            image_id=coco_id,
        )
        return None
    return info.filename, probed


def _probe_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[int, int, str] | str:
    """(width, height, sha256) of a zip member exactly as upload would store it, or why not."""
    path = PurePosixPath(info.filename.replace("\\", "/"))
    if info.filename.startswith("/") or ".." in path.parts:
        return "has an unsafe path"
    limit = settings.ANNOTATOR["MAX_IMAGE_BYTES"]
    if info.file_size > limit:
        return f"is larger than the {limit // 2**20} MB image limit"
    try:
        with archive.open(info) as stream:
            data = stream.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
        return f"cannot be extracted ({exc})"
    if len(data) > limit:
        return f"is larger than the {limit // 2**20} MB image limit"
    try:
        decoded = decode_image(data)
    except FileRejected as exc:
        return f"is not a usable image: {exc.reason}"
    return decoded.width, decoded.height, hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- shapes


def _shape_of(ann: dict[str, Any], image: PlannedImage, problems: _Problems) -> geometry.Shape | None:
    ann_id = ann["id"]
    label = f"annotation {ann_id}"
    w, h = image.width, image.height
    seg = ann.get("segmentation")
    try:
        if ann.get("multipolygon") is not None:
            exact = _exact_shape(ann, w, h, label, problems)
            if exact is not None:
                return exact
        if seg is None or seg == [] or seg == {}:
            if ann.get("bbox") is None:
                problems.add(
                    "error",
                    "empty_segmentation",
                    f"{label} has neither a segmentation nor a bbox",
                    annotation_id=ann_id,
                    image_id=image.coco_id,
                )
                return None
            shape = geometry.bbox_to_shape(ann["bbox"], width=w, height=h, label=f"{label} bbox")
            problems.add(
                "note",
                "bbox_only",
                f"{label} has an empty segmentation; its bbox is imported as a rectangle",
                annotation_id=ann_id,
                image_id=image.coco_id,
                action="converted",
            )
            return shape
        shape, notes = geometry.coco_segmentation_to_shape(seg, width=w, height=h, label=label)
    except geometry.SegmentationError as exc:
        problems.add("error", exc.code, str(exc), annotation_id=ann_id, image_id=image.coco_id)
        return None
    if "clipped" in notes:
        problems.add(
            "warning",
            "out_of_bounds",
            f"{label} reaches outside the {w}x{h} image; clipped to it",
            annotation_id=ann_id,
            image_id=image.coco_id,
        )
    if "repaired" in notes:
        problems.add(
            "warning",
            "bad_polygon",
            f"{label} has a self-intersecting polygon; repaired",
            annotation_id=ann_id,
            image_id=image.coco_id,
        )
    return shape


def _exact_shape(ann, w: int, h: int, label: str, problems: _Problems) -> geometry.Shape | None:
    """This app's own ``multipolygon`` extension (holes in polygon mode), if it agrees with the RLE."""
    try:
        shape = geometry.clean_shape(ann["multipolygon"], width=w, height=h, label=f"{label} multipolygon")
        seg = ann.get("segmentation")
        if seg:
            seg_shape, _ = geometry.coco_segmentation_to_shape(seg, width=w, height=h, label=label)
            iou = geometry.mask_iou(
                geometry.shape_to_mask(shape, h, w), geometry.shape_to_mask(seg_shape, h, w)
            )
            if iou < 0.9:
                raise geometry.GeometryError(
                    f"{label}: 'multipolygon' disagrees with 'segmentation' (IoU {iou:.2f})"
                )
        return shape
    except geometry.GeometryError as exc:
        problems.add(
            "warning",
            "bad_polygon",
            f"{exc}; the segmentation is used instead",
            annotation_id=ann["id"],
            image_id=ann.get("image_id"),
        )
        return None


# --------------------------------------------------------------------------- plan


def _plan_summary(project, planned: list[PlannedImage], to_create, mode: str, total_annotations: int):
    from annotator.annotations.models import Annotation

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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)

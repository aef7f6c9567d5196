"""Matching a COCO file's images: to the project's images by name, or to the members of an uploaded zip.

A zip member is probed exactly as an upload would store it (decoded, sha256), so an image that
is already in the project is recognised by its content and never stored twice.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings

from annotator.projects.ingest import FileRejected, decode_image

from . import selectors
from .coco_plan import PlannedImage, Problems, is_int


def resolve_images(project, raw: list[Any], archive: zipfile.ZipFile | None, problems: Problems):
    """COCO image id -> PlannedImage, matched in the zip or against the project's images."""
    lookup = selectors.project_images_by_name(project=project) if archive is None else None
    members = _zip_index(archive) if archive is not None else None
    images: dict[int, PlannedImage] = {}
    targets: dict[Any, int] = {}
    for index, img in enumerate(raw):
        if not isinstance(img, dict) or not is_int(img.get("id")):
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
        if not all(is_int(v) and v > 0 for v in declared):
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


def _match_existing(lookup, file_name: str, coco_id: int, problems: Problems):
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


def _match_member(archive, members, file_name: str, coco_id: int, problems: Problems):
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

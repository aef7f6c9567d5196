"""Writing COCO files incrementally: nothing here holds more than one image's rows at a time.

Pure file I/O and geometry, no database: ``annotator.datasets.services`` feeds it rows from the
export scans in ``selectors``.

How an instance is written (``segmentation_mode``):

* ``"polygons"`` (default): each part's exterior as a flat COCO polygon. COCO polygons are a
  union of rings and cannot subtract a hole, so an instance **with holes** is written as
  compressed RLE (still ``iscrowd: 0``: it is one object, not a crowd) and additionally carries
  ``"multipolygon"``: the exact shape in this project's format ``[[exterior, hole, ...], ...]``
  with rings of ``[x, y]`` pixels. pycocotools and other tools read the RLE; our importer
  prefers ``multipolygon`` so the round trip keeps every vertex.
* ``"rle"``: every instance as compressed RLE, ``iscrowd: 0``.

``area`` is the shape's area in square pixels (holes subtracted) and ``bbox`` is the shape's
``[x, y, width, height]``, both computed from the stored shape, not trusted from the row.
"""

from __future__ import annotations

import json
import posixpath
from typing import IO, Any

from ml import geometry

POLYGONS = "polygons"
RLE = "rle"
ANNOTATIONS_MEMBER = "annotations.json"
IMAGES_FOLDER = "images"
_EXT_ALIASES = {"jpg": {".jpg", ".jpeg"}, "tif": {".tif", ".tiff"}}


def coco_annotation(
    *,
    annotation_id: int,
    image_id: int,
    category_id: int,
    shape: geometry.Shape,
    height: int,
    width: int,
    segmentation_mode: str,
) -> dict[str, Any]:
    """One COCO annotation object from a stored shape (see the module docstring for holes)."""
    holes = geometry.shape_has_holes(shape)
    out: dict[str, Any] = {"id": annotation_id, "image_id": image_id, "category_id": category_id}
    if segmentation_mode == RLE or holes:
        out["segmentation"] = geometry.shape_to_rle(shape, height, width)
    else:
        out["segmentation"] = geometry.shape_to_coco_polygons(shape)
    out["area"], out["bbox"] = geometry.shape_area_bbox(shape)
    out["iscrowd"] = 0
    if holes and segmentation_mode == POLYGONS:
        out["multipolygon"] = shape
    return out


def coco_result(
    *, image_id: int, category_id: int, shape: geometry.Shape, score: float, height: int, width: int
) -> dict[str, Any]:
    """One detection of a COCO results file (what ``COCO.loadRes`` reads): RLE, bbox, score."""
    return {
        "image_id": image_id,
        "category_id": category_id,
        "segmentation": geometry.shape_to_rle(shape, height, width),
        **dict(zip(("area", "bbox"), geometry.shape_area_bbox(shape), strict=True)),
        "score": round(float(score), 5),
    }


class ZipNames:
    """Unique, safe ``images/<name>`` paths for a zip; the first image with a name keeps it."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def name_for(self, *, image_id: int, name: str, ext: str) -> str:
        base = posixpath.basename(name.replace("\\", "/")).strip() or f"image_{image_id}"
        base = "".join(ch if ch.isprintable() and ch not in '<>:"|?*' else "_" for ch in base)
        stem, suffix = posixpath.splitext(base)
        if suffix.lower() not in _EXT_ALIASES.get(ext, {f".{ext}"}):
            stem, suffix = base, f".{ext}"  # the stored bytes' real format decides the extension
        stem = stem.lstrip(".") or f"image_{image_id}"
        candidate = f"{IMAGES_FOLDER}/{stem}{suffix}"
        if candidate.lower() in self._used:
            candidate = f"{IMAGES_FOLDER}/{stem}~{image_id}{suffix}"
        self._used.add(candidate.lower())
        return candidate


class CocoInstancesWriter:
    """Streams a COCO instances JSON: header and categories, then images, then annotations."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._section: str | None = None
        self._first = True
        self.counts = {"images": 0, "annotations": 0}

    def begin(self, *, info: dict[str, Any], categories: list[dict[str, Any]]) -> None:
        self.stream.write('{"info":' + _dumps(info) + ',"licenses":[],"categories":' + _dumps(categories))

    def image(self, obj: dict[str, Any]) -> None:
        self._item("images", obj)

    def annotation(self, obj: dict[str, Any]) -> None:
        self._item("annotations", obj)

    def end(self) -> None:
        if self._section is None:
            self._open("images")
        if self._section == "images":
            self._open("annotations")
        self.stream.write("]}")

    def _open(self, section: str) -> None:
        if self._section is not None:
            self.stream.write("]")
        self.stream.write(f',"{section}":[')
        self._section = section
        self._first = True

    def _item(self, section: str, obj: dict[str, Any]) -> None:
        if self._section != section:
            if section == "annotations" and self._section is None:
                self._open("images")
            self._open(section)
        self.stream.write(("" if self._first else ",") + _dumps(obj))
        self._first = False
        self.counts[section] += 1


class CocoResultsWriter:
    """Streams a COCO results file: one JSON list of detections."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.count = 0
        self.stream.write("[")

    def result(self, obj: dict[str, Any]) -> None:
        self.stream.write(("," if self.count else "") + _dumps(obj))
        self.count += 1

    def end(self) -> None:
        self.stream.write("]")


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)
_dumps = _ENCODER.encode

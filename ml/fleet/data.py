"""Training data of a base run: several COCO sources (teams' accepted data, synthetic scenes) in one file.

Every source is mapped to the universal taxonomy by category *name*; annotations of any other
category are left out and counted. Image ``file_name``s in the merged file are absolute paths,
so the merged file can live anywhere and the sources' images are never copied.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml.synth import CATEGORIES, write_dataset
from ml.synth.dataset import coco_categories


@dataclass(frozen=True)
class CocoSource:
    """One COCO instances file; ``images_dir`` defaults to the file's folder; ``name`` labels it in summaries."""

    coco: Path
    name: str
    images_dir: Path | None = None


@dataclass(frozen=True)
class BoxSource:
    """Real photos labelled with boxes (a COCO detection file and its set's ``source_map.csv``): they train
    through ``ml.universal.data.BoxDataset``, not as masks; ``images_dir`` defaults to the file's folder.
    ``background``: False trains on the boxes alone, nothing taken as background (``targets.box_targets``)."""

    coco: Path
    name: str
    source_map: Path
    images_dir: Path | None = None
    background: bool = True

    def spec(self) -> dict[str, Any]:
        """The ``{"boxes": ...}`` data spec of ``ml.universal.train``."""
        folder = self.images_dir if self.images_dir is not None else Path(self.coco).parent
        return {
            "boxes": {
                "coco": str(self.coco),
                "source_map": str(self.source_map),
                "images_dir": str(folder),
                "background": self.background,
            }
        }


def merge_coco(sources: Sequence[CocoSource], out_path: str | Path) -> dict[str, Any]:
    """Write the union of ``sources`` as one COCO file in the universal taxonomy; returns a summary.

    Summary: ``{"images", "annotations", "skipped_annotations", "sources": {name: {"images",
    "annotations", "skipped_annotations"}}}``.
    """
    universal = {name: i + 1 for i, name in enumerate(CATEGORIES)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"images": 0, "annotations": 0, "skipped_annotations": 0, "sources": {}}
    for source in sources:
        data = json.loads(Path(source.coco).read_text())
        folder = Path(source.images_dir) if source.images_dir is not None else Path(source.coco).parent
        to_universal = {c["id"]: universal.get(c["name"]) for c in data.get("categories", [])}
        new_id: dict[Any, int] = {}
        counts = {"images": 0, "annotations": 0, "skipped_annotations": 0}
        for image in data.get("images", []):
            new_id[image["id"]] = len(images) + 1
            images.append(
                {
                    **image,
                    "id": len(images) + 1,
                    "file_name": str((folder / image["file_name"]).resolve()),
                    "source": source.name,
                }
            )
            counts["images"] += 1
        for ann in data.get("annotations", []):
            category = to_universal.get(ann["category_id"])
            if category is None or ann["image_id"] not in new_id:
                counts["skipped_annotations"] += 1
                continue
            annotations.append(
                {
                    **ann,
                    "id": len(annotations) + 1,
                    "image_id": new_id[ann["image_id"]],
                    "category_id": category,
                }
            )
            counts["annotations"] += 1
        previous = summary["sources"].get(source.name)
        if previous:  # two files from one source (a team's train and extra data): add up
            counts = {k: counts[k] + previous[k] for k in counts}
        summary["sources"][source.name] = counts
    summary["images"], summary["annotations"] = len(images), len(annotations)
    summary["skipped_annotations"] = sum(s["skipped_annotations"] for s in summary["sources"].values())
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "info": {"description": "merged base-training data"},
                "images": images,
                "annotations": annotations,
                "categories": coco_categories(),
            }
        )
    )
    return summary


def write_synthetic(
    out_dir: str | Path, *, count: int, seed: int, size: int, domains: Sequence[str] = ("all",)
) -> CocoSource:
    """``count`` synthetic scenes (``size`` px square) spread over ``domains``, as one COCO source."""
    out = Path(out_dir)
    parts = []
    for k, domain in enumerate(domains):
        share = count // len(domains) + (1 if k < count % len(domains) else 0)
        if share:
            path = write_dataset(out / domain, domain, share, seed + 100_000 * k, (size, size))
            parts.append(CocoSource(path, "synthetic"))
    if len(parts) == 1:
        return parts[0]
    merged = out / "synthetic.json"
    merge_coco(parts, merged)
    return CocoSource(merged, "synthetic")

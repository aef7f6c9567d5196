"""A tiny folder shaped like ``../shared/tools/build_public_boxes.py``'s output, for the real-data harnesses' tests
(``ml.experiments.fewshot``, ``fleet --real``, ``active --real``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np

SERIES = {  # series -> frames, as build_public_boxes.py names them
    "boxes-ou3c2: video IMG_0261_mp4": 6,
    "boxes-ou3c2: video IMG_0265_mp4": 4,
    "boxes-ou3c2: video IMG_0263_mp4": 3,
    "boxes-ou3c2: video IMG_0267_mp4": 2,
    "boxes-ou3c2: video IMG_0266_mp4": 4,
    "boxes-ou3c2: burst gggg": 3,
    "boxes-ou3c2: rig day 20211113": 2,
    "": 2,  # web images
}


def real_like_set(root: Path) -> Path:
    """A folder shaped like build_public_boxes.py's output: three splits, boxes, a source map."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    splits: dict[str, dict] = {s: {"images": [], "annotations": []} for s in ("train", "val", "test")}
    rows = []
    k = 0
    for series, frames in SERIES.items():
        for frame in range(frames):
            k += 1
            image = rng.integers(0, 60, (96, 128, 3), dtype=np.uint8)
            x, y = int(rng.integers(5, 50)), int(rng.integers(5, 30))
            image[y : y + 50, x : x + 60] = (180, 140, 90)
            name = f"images/img_{k:03d}_{frame:03d}.jpg"
            cv2.imwrite(str(root / name), image)
            split = ("train", "val", "test")[k % 3]
            splits[split]["images"].append({"id": k, "file_name": name, "width": 128, "height": 96})
            splits[split]["annotations"].append(
                {"id": k, "image_id": k, "category_id": 1, "bbox": [x, y, 60, 50], "area": 3000, "iscrowd": 0}
            )
            rows.append({"file_name": name, "series": series, "kept": "True"})
    for split, coco in splits.items():
        coco["categories"] = [{"id": 1, "name": "cardboard_box"}]
        (root / f"{split}.json").write_text(json.dumps(coco))
    with open(root / "source_map.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file_name", "series", "kept"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def boxes_only(data: dict) -> dict:
    """A COCO dict with masks made like the real set: no segmentation, one category (cardboard_box)."""
    return {
        **data,
        "categories": [{"id": 1, "name": "cardboard_box"}],
        "annotations": [
            {k: v for k, v in ann.items() if k != "segmentation"} | {"category_id": 1}
            for ann in data["annotations"]
        ],
    }

"""The real captures of ``../shared/tools/build_public_boxes.py`` by kind of site, and the site-W splits.

The captures (``source_map.csv`` rows whose ``series`` is set) come from three kinds of site:

* **W**, five phone videos of one warehouse's racking (series ``... video IMG_02xx_mp4``);
* **R**, a greyscale camera rig over stacked cartons (``... rig day ...``);
* **S**, photo bursts and sessions in shops and stores (every other series).

The experiment re-splits W by whole videos, so no frame of a test video is near any training frame:
``W_TEST_VIDEOS`` are the test set, ``W_VAL_VIDEO`` picks the learning rates (every ``val_every``-th
frame, to keep the search cheap), and the rest is the pool a team would label from. S and R, from all
three of the shipped splits, train the base without W. Web images (no series) are left out.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path
from typing import Any

W_TEST_VIDEOS = ("IMG_0263", "IMG_0267")  # 29 + 93 frames in the 2026-12 build
W_VAL_VIDEO = "IMG_0266"  # 191 frames; every val_every-th one picks the learning rates
SPLITS = ("train", "val", "test")


def site_of(series: str) -> str | None:
    """ "W", "R" or "S" for a capture series; None for a web image (empty series)."""
    if not series:
        return None
    if " video " in f" {series} ":
        return "W"
    if " rig " in f" {series} ":
        return "R"
    return "S"


def video_of(series: str) -> str:
    """The video name of a W series, e.g. "IMG_0261" for "boxes-ou3c2: video IMG_0261_mp4"."""
    return series.rsplit(" ", 1)[-1].removesuffix("_mp4")


def read_captures(data_dir: str | Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict]]:
    """Every capture image of the three splits (each with ``series``), their boxes with ids kept unique, and the
    categories. Image ids are renumbered across splits; file names stay relative to ``data_dir``."""
    root = Path(data_dir)
    with open(root / "source_map.csv", newline="") as handle:
        series = {row["file_name"]: row["series"] for row in csv.DictReader(handle) if row["kept"] == "True"}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    categories: list[dict] = []
    for split in SPLITS:
        coco = json.loads((root / f"{split}.json").read_text())
        categories = coco["categories"]
        new_id: dict[int, int] = {}
        for img in coco["images"]:
            name = series.get(img["file_name"], "")
            if not name:
                continue
            new_id[img["id"]] = len(images) + 1
            images.append({**img, "id": new_id[img["id"]], "series": name, "shipped_split": split})
        for ann in coco["annotations"]:
            if ann["image_id"] in new_id:
                annotations.append({**ann, "id": len(annotations) + 1, "image_id": new_id[ann["image_id"]]})
    return images, annotations, categories


def evenly_spaced(items: list[Any], count: int) -> list[Any]:
    """``count`` items spread evenly over ``items`` (all of them when ``count`` >= their number)."""
    if count >= len(items):
        return list(items)
    step = len(items) / count
    return [items[int(k * step + step / 2)] for k in range(count)]


def write_coco(path: Path, images: list[dict], annotations: list[dict], categories: list[dict]) -> Path:
    keep = {img["id"] for img in images}
    path.write_text(
        json.dumps(
            {
                "images": images,
                "annotations": [ann for ann in annotations if ann["image_id"] in keep],
                "categories": categories,
            }
        )
    )
    return path


def write_site_splits(
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    pool_sizes: tuple[int, ...],
    val_every: int = 4,
    test_videos: tuple[str, ...] = W_TEST_VIDEOS,
    val_video: str = W_VAL_VIDEO,
) -> dict[str, Any]:
    """COCO files in ``out_dir`` (file names relative to ``data_dir``): ``base_train.json`` (S and R),
    ``w_val.json``, ``w_test.json``, ``w_all.json`` (the whole W pool) and ``w_<n>.json`` for each pool size,
    ``n`` frames spread evenly over the pool's videos in frame order. Returns the counts."""
    images, annotations, categories = read_captures(data_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    by_site: dict[str, list[dict]] = {"W": [], "R": [], "S": []}
    for img in images:
        by_site[site_of(img["series"]) or "S"].append(img)
    w_videos = sorted({video_of(img["series"]) for img in by_site["W"]})
    missing = [v for v in (*test_videos, val_video) if v not in w_videos]
    if missing:
        raise ValueError(f"videos {missing} are not among W's videos {w_videos}")
    frames = sorted(by_site["W"], key=lambda img: (video_of(img["series"]), img["file_name"]))
    test = [img for img in frames if video_of(img["series"]) in test_videos]
    val = [img for img in frames if video_of(img["series"]) == val_video][::val_every]
    pool = [img for img in frames if video_of(img["series"]) not in (*test_videos, val_video)]
    write_coco(out / "base_train.json", by_site["S"] + by_site["R"], annotations, categories)
    write_coco(out / "w_val.json", val, annotations, categories)
    write_coco(out / "w_test.json", test, annotations, categories)
    write_coco(out / "w_all.json", pool, annotations, categories)
    for n in pool_sizes:
        write_coco(out / f"w_{n}.json", evenly_spaced(pool, n), annotations, categories)
    return {
        "base_train": {"S": len(by_site["S"]), "R": len(by_site["R"])},
        "w_videos": w_videos,
        "w_test_videos": list(test_videos),
        "w_val_video": val_video,
        "w_test": len(test),
        "w_val": len(val),
        "w_pool": len(pool),
        "pool_videos": sorted({video_of(img["series"]) for img in pool}),
    }


def write_captures_copy(
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    sites: tuple[str, ...] = ("W", "R", "S"),
    skip_videos: tuple[str, ...] = (),
) -> dict[str, int]:
    """A copy of the real set to carry to a GPU machine: the three splits and the source map with every capture
    (no web image), and the image files of the captures of ``sites`` only, less W's ``skip_videos``. The
    2026-12 build's capture images are 59 MiB (W 39, S 19, R 0.5) against a 64 MiB transfer, repository
    included: two copies, e.g. S and R, then W without its val video (a fleet run never reads it), travel in two
    calls to one warm machine and are merged there. Returns the image files copied per site."""
    root, out = Path(data_dir), Path(out_dir)
    with open(root / "source_map.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = [row for row in reader if row["kept"] == "True" and row["series"]]
        fields = list(reader.fieldnames or [])
    series = {row["file_name"]: row["series"] for row in rows}
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "source_map.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    copied = dict.fromkeys(sites, 0)
    for split in SPLITS:
        coco = json.loads((root / f"{split}.json").read_text())
        images = [img for img in coco["images"] if img["file_name"] in series]
        for img in images:
            name = series[img["file_name"]]
            if site_of(name) in sites and not (site_of(name) == "W" and video_of(name) in skip_videos):
                (out / img["file_name"]).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(root / img["file_name"], out / img["file_name"])
                copied[str(site_of(name))] += 1
        ids = {img["id"] for img in images}
        kept = [ann for ann in coco["annotations"] if ann["image_id"] in ids]
        (out / f"{split}.json").write_text(json.dumps({**coco, "images": images, "annotations": kept}))
    return copied


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Copy the real set's captures (all labels, some images) to carry."
    )
    parser.add_argument("data", type=Path, help="build_public_boxes.py's output folder")
    parser.add_argument("out", type=Path, help="the copy's folder")
    parser.add_argument("--sites", nargs="+", default=["W", "R", "S"], choices=["W", "R", "S"])
    parser.add_argument("--skip-videos", nargs="*", default=[], help="W videos whose frames are not copied")
    args = parser.parse_args(argv)
    print(
        json.dumps(
            write_captures_copy(
                args.data, args.out, sites=tuple(args.sites), skip_videos=tuple(args.skip_videos)
            )
        )
    )


if __name__ == "__main__":
    main()

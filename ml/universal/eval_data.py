"""The images and ground truth an evaluation runs on: fresh synthetic scenes, or a COCO file checked for
box scoring (and its real-set subsets by source map), with an error that names the bad input."""

from __future__ import annotations

import copy
import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pycocotools.coco import COCO

from ml.universal.coco_eval import coco_from_dict


class EvaluationInputError(ValueError):
    """A COCO file, image folder, source map, subset or checkpoint that cannot be evaluated; the message names it."""


def synthetic_coco(count: int, seed: int, domain: str = "all", size: tuple[int, int] = (512, 512)):
    """Fresh synthetic scenes as (COCO ground-truth dict, [(image_id, image), ...])."""
    from ml.synth.dataset import coco_categories, iter_scenes, scene_annotations

    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    samples: list[tuple[int, np.ndarray]] = []
    for i, scene in enumerate(iter_scenes(domain, count, seed, size)):
        images.append(
            {
                "id": i + 1,
                "file_name": f"{scene.domain}_{scene.seed}.png",
                "height": size[0],
                "width": size[1],
            }
        )
        anns.extend(scene_annotations(scene, i + 1, len(anns) + 1))
        samples.append((i + 1, scene.image))
    return {"images": images, "annotations": anns, "categories": coco_categories()}, samples


def read_image(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"cannot read {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _read_images(coco: COCO, images_dir: Path) -> Iterator[tuple[int, np.ndarray]]:
    for img in coco.loadImgs(sorted(coco.getImgIds())):
        yield img["id"], read_image(images_dir / img["file_name"])


def samples_from_spec(spec: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[int, np.ndarray]]]:
    """(COCO ground-truth dict, [(image_id, image), ...]) of a dataset spec, images in memory:
    ``{"synthetic": {"count", "seed", "domain"}}`` or ``{"coco": FILE, "images_dir": DIR}`` (the
    training config's ``val`` form)."""
    if "synthetic" in spec:
        syn = spec["synthetic"]
        return synthetic_coco(int(syn["count"]), int(syn.get("seed", 0)), syn.get("domain", "all"))
    data = json.loads(Path(spec["coco"]).read_text())
    folder = Path(spec.get("images_dir") or Path(spec["coco"]).parent)
    return data, list(_read_images(coco_from_dict(copy.deepcopy(data)), folder))


SUBSETS = ("captures", "web", "all")


def read_coco(path: str | Path) -> dict[str, Any]:
    """A COCO file's dict, checked for what box scoring needs: images with ids and file names, and
    annotations with a bbox on a listed image (a segmentation is optional)."""
    path = Path(path)
    if not path.is_file():
        raise EvaluationInputError(f"COCO file {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvaluationInputError(f"COCO file {path} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise EvaluationInputError(f'COCO file {path} has no "images" list')
    if not data["images"]:
        raise EvaluationInputError(f"COCO file {path} lists no images")
    if not all(isinstance(img, dict) and "id" in img and "file_name" in img for img in data["images"]):
        raise EvaluationInputError(f'COCO file {path}: an image lacks "id" or "file_name"')
    ids = {img["id"] for img in data["images"]}
    for ann in data.get("annotations", []):
        box = ann.get("bbox")
        if not (
            isinstance(box, list)
            and len(box) == 4
            and all(isinstance(v, int | float) and np.isfinite(v) for v in box)
            and min(box[2:]) >= 0
        ):
            raise EvaluationInputError(
                f"COCO file {path}: annotation {ann.get('id')} has no bbox [x, y, width, height]"
            )
        if ann.get("image_id") not in ids:
            raise EvaluationInputError(
                f"COCO file {path}: annotation {ann.get('id')} is on image "
                f"{ann.get('image_id')}, which the file does not list"
            )
    return data


def subset_image_ids(images: list[dict[str, Any]], source_map: str | Path) -> dict[str, list[int]]:
    """{"captures": ids, "web": ids} of COCO images by their row (``file_name``) in the real set's
    ``source_map.csv`` (``data.capture_series``): captures have a series, web images none."""
    from ml.universal.data import capture_series, select_images

    path = Path(source_map)
    if not path.is_file():
        raise EvaluationInputError(f"source map {path} does not exist (give --source-map CSV)")
    try:
        series = capture_series(path)
    except KeyError as exc:
        raise EvaluationInputError(f"source map {path} has no column {exc}") from exc
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise EvaluationInputError(f"source map {path} is not a readable CSV: {exc}") from exc
    missing = [img["file_name"] for img in images if img["file_name"] not in series]
    if missing:
        raise EvaluationInputError(
            f"{len(missing)} of {len(images)} images are not kept rows of source map {path}, "
            f"e.g. {missing[0]}"
        )
    return {name: [img["id"] for img in select_images(images, series, name)] for name in ("captures", "web")}


def coco_selection(
    coco_path: str | Path, images_dir: str | Path | None, subset: str | None, source_map: str | Path | None
) -> tuple[dict[str, Any], Path, dict[str, list[int]], list[int]]:
    """(COCO dict, images folder, {"captures": ids, "web": ids} or {} without a source map, the chosen
    image ids), every chosen image checked to exist; bad input raises ``EvaluationInputError``."""
    data = read_coco(coco_path)
    folder = Path(images_dir) if images_dir is not None else Path(coco_path).parent
    if not folder.is_dir():
        raise EvaluationInputError(f"images folder {folder} does not exist")
    if subset is not None and subset not in SUBSETS:
        raise EvaluationInputError(f"unknown subset {subset!r}; choose from {', '.join(SUBSETS)}")
    groups: dict[str, list[int]] = {}
    if subset is not None or source_map is not None:
        groups = subset_image_ids(data["images"], source_map or Path(coco_path).parent / "source_map.csv")
    chosen = groups[subset] if subset in groups else [img["id"] for img in data["images"]]
    if not chosen:
        raise EvaluationInputError(f"COCO file {coco_path} has no {subset} images")
    file_of = {img["id"]: img["file_name"] for img in data["images"]}
    missing = [file_of[i] for i in chosen if not (folder / file_of[i]).is_file()]
    if missing:
        raise EvaluationInputError(
            f"{len(missing)} of {len(chosen)} images are missing under {folder}, e.g. {missing[0]}"
        )
    return data, folder, groups, chosen


def labelled_photos(
    coco_path: str | Path, images_dir: str | Path | None, subset: str | None, source_map: str | Path | None
) -> list[tuple[dict[str, Any], np.ndarray, list[list[float]]]]:
    """(image info, uint8 RGB image, labelled COCO boxes [x, y, w, h] without crowds) for each image of
    ``coco_selection``, in id order: what box scoring on real photos needs, read into memory."""
    data, folder, _groups, chosen = coco_selection(coco_path, images_dir, subset, source_map)
    wanted = set(chosen)
    gt: dict[int, list[list[float]]] = {}
    for ann in data.get("annotations", []):
        if not ann.get("iscrowd", 0):
            gt.setdefault(ann["image_id"], []).append([float(v) for v in ann["bbox"]])
    return [
        (info, read_image(folder / info["file_name"]), gt.get(info["id"], []))
        for info in sorted(data["images"], key=lambda i: i["id"])
        if info["id"] in wanted
    ]

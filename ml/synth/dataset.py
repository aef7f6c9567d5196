"""Writing synthetic scenes to disk as images plus one COCO instances file.

Segmentations are polygons produced by :mod:`ml.geometry`; where a mask has holes (COCO
polygons cannot express them) the annotation carries RLE instead, so masks stay exact.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ml import geometry
from ml.synth.scene import ALL_DOMAINS, CATEGORIES, DOMAINS, Scene, generate_scene


def coco_categories() -> list[dict[str, Any]]:
    return [{"id": i + 1, "name": name, "supercategory": "package"} for i, name in enumerate(CATEGORIES)]


def scene_annotations(scene: Scene, image_id: int, first_ann_id: int) -> list[dict[str, Any]]:
    """COCO annotation dicts for a scene's instances (bbox [x, y, w, h] and area in pixels)."""
    height, width = scene.labels.shape
    anns = []
    for k, inst in enumerate(scene.instances):
        shape = geometry.mask_to_shape(inst.mask, min_area=1.0)
        if shape and not geometry.shape_has_holes(shape):
            segmentation: Any = geometry.shape_to_coco_polygons(shape)
        else:
            segmentation = geometry.mask_to_rle(inst.mask)
        anns.append(
            {
                "id": first_ann_id + k,
                "image_id": image_id,
                "category_id": CATEGORIES.index(inst.category) + 1,
                "segmentation": segmentation,
                "area": float(inst.mask.sum()),
                "bbox": geometry.mask_bbox(inst.mask),
                "iscrowd": 0,
            }
        )
    return anns


def domain_cycle(domain: str) -> Iterator[str]:
    """``"all"`` cycles through the four original domains in a fixed order (not the photo-like ones,
    so sets drawn with ``"all"`` stay as they were), ``"a,b"`` through the named ones (any of
    ``ALL_DOMAINS``); a single name repeats that domain."""
    names = sorted(DOMAINS) if domain == "all" else domain.split(",")
    unknown = [name for name in names if name not in ALL_DOMAINS]
    if unknown or not names:
        raise ValueError(
            f"unknown domain {domain!r}; choose from {list(ALL_DOMAINS)}, a comma-separated list, or 'all'"
        )
    return itertools.cycle(names)


def iter_scenes(domain: str, count: int, seed: int, size: tuple[int, int] = (512, 512)) -> Iterator[Scene]:
    """Scenes ``seed, seed + 1, ...``; with ``domain="all"`` the domains alternate."""
    for i, name in zip(range(count), domain_cycle(domain), strict=False):
        yield generate_scene(name, seed + i, size)


def _write_scene(
    job: tuple[Path, str, int, int, tuple[int, int]],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Render scene ``seed`` of ``domain``, save its PNG under ``out``; its image entry and annotations
    (image id ``index + 1``; annotation ids are numbered by the caller)."""
    out, domain, seed, index, size = job
    scene = generate_scene(domain, seed, size)
    name = f"images/{scene.domain}_{scene.seed:07d}.png"
    cv2.imwrite(str(out / name), cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR))
    height, width = scene.image.shape[:2]
    image = {"id": index + 1, "file_name": name, "height": height, "width": width, "domain": scene.domain}
    return image, scene_annotations(scene, index + 1, 1)


def write_dataset(
    out_dir: str | Path,
    domain: str,
    count: int,
    seed: int,
    size: tuple[int, int] = (512, 512),
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> Path:
    """Write ``count`` scenes to ``out_dir/images/*.png`` and ``out_dir/annotations.json``.

    ``file_name`` entries are relative to ``out_dir``. ``workers`` > 1 renders in that many
    processes; the files are the same as with one. Returns the annotations path.
    """
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    jobs = [
        (out, name, seed + i, i, size) for i, name in zip(range(count), domain_cycle(domain), strict=False)
    ]
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []

    def collect(results: Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]) -> None:
        for image, anns in results:
            images.append(image)
            annotations.extend({**ann, "id": len(annotations) + 1} for ann in anns)
            if progress is not None:
                progress(1)

    if workers > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            collect(pool.imap(_write_scene, jobs, chunksize=4))
    else:
        collect(map(_write_scene, jobs))
    coco = {
        "info": {"description": f"synthetic warehouse scenes, domain={domain}, seed={seed}", "version": "1"},
        "images": images,
        "annotations": annotations,
        "categories": coco_categories(),
    }
    path = out / "annotations.json"
    path.write_text(json.dumps(coco))
    return path


def contact_sheet(
    path: str | Path, seed: int = 0, tile: int = 256, grid: int = 4, domain: str = "all"
) -> Path:
    """Save a grid x grid PNG of scenes of ``domain`` (as in :func:`domain_cycle`; several domains
    alternate by column) with instance outlines."""
    tiles = []
    for i, scene in enumerate(iter_scenes(domain, grid * grid, seed, (tile, tile))):
        img = scene.image.copy()
        rng = np.random.default_rng(i)
        for inst in scene.instances:
            contours, _ = cv2.findContours(
                inst.mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
            )
            cv2.drawContours(img, contours, -1, tuple(int(c) for c in rng.integers(60, 256, 3)), 1)
        tiles.append(img)
    rows = [np.concatenate(tiles[r * grid : (r + 1) * grid], axis=1) for r in range(grid)]
    sheet = np.concatenate(rows, axis=0)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return out

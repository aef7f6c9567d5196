"""Test data without Django: tiny real checkpoints and 64 px scenes with known square objects."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage

from ml.synth import CATEGORIES
from ml.universal.checkpoint import make_meta, save_checkpoint
from ml.universal.model import build_model

SIZE = 64


def tiny_checkpoint(path: Path, seed: int = 0, input_size: int = SIZE) -> Path:
    """A randomly initialised extra-small universal model, saved with the real checkpoint format."""
    torch.manual_seed(seed)
    return save_checkpoint(
        path, build_model("unet_xs", len(CATEGORIES)), make_meta("unet_xs", CATEGORIES, input_size)
    )


def scene(seed: int) -> tuple[bytes, list[tuple[int, int, int]]]:
    """A PNG with 1-2 bright squares on a dark noisy floor, and the squares as (x, y, size)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(20, 60, size=(SIZE, SIZE, 3)).astype(np.uint8)
    squares = []
    for _ in range(int(rng.integers(1, 3))):
        size = int(rng.integers(14, 24))
        x, y = (int(v) for v in rng.integers(2, SIZE - size - 2, size=2))
        if any(abs(x - a) < size + 2 and abs(y - b) < size + 2 for a, b, _ in squares):
            continue
        pixels[y : y + size, x : x + size] = (200, 140, 60)
        squares.append((x, y, size))
    buf = io.BytesIO()
    PILImage.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue(), squares


def square(x: int, y: int, size: int) -> list:
    return [[[[x, y], [x + size, y], [x + size, y + size], [x, y + size]]]]


def trained_checkpoint(folder: Path, *, seeds, epochs: int) -> Path:
    """Train a tiny model on square scenes with the universal model's own training loop."""
    import json

    from ml import geometry
    from ml.synth.dataset import coco_categories
    from ml.universal.train import train

    (folder / "images").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for seed in seeds:
        data, squares = scene(seed)
        (folder / "images" / f"{seed}.png").write_bytes(data)
        images.append({"id": seed + 1, "file_name": f"images/{seed}.png", "width": SIZE, "height": SIZE})
        for sq in squares:
            shape = square(*sq)
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": seed + 1,
                    "category_id": 1,
                    "iscrowd": 0,
                    "segmentation": geometry.shape_to_coco_polygons(shape),
                    "bbox": geometry.shape_bbox(shape),
                    "area": geometry.shape_area(shape),
                }
            )
    coco = folder / "train.json"
    coco.write_text(json.dumps({"images": images, "annotations": anns, "categories": coco_categories()}))
    init = tiny_checkpoint(folder / "init.pt", seed=1)
    result = train(
        {
            "init": str(init),
            "data": {"coco": str(coco)},
            "val": None,
            "epochs": epochs,
            "batch_size": 4,
            "lr": 3e-3,
            "out": str(folder / "good.pt"),
            "work_dir": None,
            "threads": 1,
        }
    )
    return Path(result["checkpoint"])

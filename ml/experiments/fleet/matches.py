"""A checkpoint's per-image box matches on a set (``coco_eval.image_matches``), kept as JSON in a run's folder:
what the fleet's paired bootstrap resamples (:func:`ml.experiments.fleet.measures.label_reduction_interval`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ml.universal.box_eval import checkpoint_boxes
from ml.universal.coco_eval import ImageBoxes, ImageMatches, image_matches


def matches_path(folder: Path, checkpoint: Path, coco: Path) -> Path:
    return Path(folder) / f"{Path(checkpoint).stem}__{Path(coco).stem}.json"


def keep_matches(folder: Path, checkpoint: Path, coco: Path, images: list[ImageBoxes]) -> Path:
    """Write the matches of predictions already made (``checkpoint_boxes``) into ``folder``."""
    path = matches_path(folder, checkpoint, coco)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([[m[0].tolist(), m[1].tolist(), m[2]] for m in map(image_matches, images)]))
    return path


def load_matches(folder: Path, checkpoint: Path, coco: Path, images_dir: Path) -> list[ImageMatches]:
    """Each image's matches in the file's image order; predicted and kept here only where none were kept."""
    path = matches_path(folder, checkpoint, coco)
    if not path.is_file():
        path = keep_matches(folder, checkpoint, coco, checkpoint_boxes(checkpoint, coco, images_dir))
    return [
        (np.asarray(s, dtype=np.float64), np.asarray(m, dtype=bool), int(n))
        for s, m, n in json.loads(path.read_text())
    ]

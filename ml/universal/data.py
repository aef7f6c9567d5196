"""Training datasets: freshly generated synthetic scenes, or a COCO instances file.

Both yield ``(image, semantic, interior)``: image float (3, S, S) in [0, 1] (resized so the
longest side is S = ``input_size`` and zero-padded), semantic uint8 and interior float32 at
stride 2 (see :mod:`ml.universal.targets`). Categories map to indices by *name*: index
k + 1 is ``categories[k]``; COCO categories missing from that list are ignored in the loss.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ml import geometry
from ml.synth import generate_scene
from ml.universal import targets


def _augment(rng: np.random.Generator, image: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Random flips, 90-degree turns and brightness/contrast jitter (labels follow geometry)."""
    if rng.random() < 0.5:
        image, labels = image[:, ::-1], labels[:, ::-1]
    if rng.random() < 0.5:
        image, labels = image[::-1], labels[::-1]
    if rng.random() < 0.5:
        image, labels = np.rot90(image), np.rot90(labels)
    gain, bias = rng.uniform(0.75, 1.25), rng.uniform(-20, 20)
    image = np.clip(image.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image), np.ascontiguousarray(labels)


def _sample(image: np.ndarray, labels: np.ndarray, classes: np.ndarray, input_size: int, rng) -> tuple:
    if rng is not None:
        image, labels = _augment(rng, image, labels)
    image, _ = targets.resize_long_side(image, input_size)
    labels = cv2.resize(labels.astype(np.float32), (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
    pad = (input_size, input_size)
    semantic, interior = targets.instance_targets(labels.astype(np.int64), classes, pad)
    return targets.to_tensor(image, pad), torch.from_numpy(semantic).long(), torch.from_numpy(interior)


class SyntheticDataset(Dataset):
    """``count`` scenes per epoch from ``domains``; call ``set_epoch`` to draw fresh seeds."""

    def __init__(self, domains: list[str], count: int, seed: int, input_size: int, categories: list[str],
                 augment: bool = True, fresh_each_epoch: bool = True, scene_size: int = 512):
        self.scene_size = scene_size  # rendered at this size, then resized like any input image
        self.domains, self.count, self.seed = list(domains), count, seed
        self.input_size, self.categories = input_size, list(categories)
        self.augment, self.fresh_each_epoch = augment, fresh_each_epoch
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.count

    def scene_seed(self, index: int) -> int:
        return self.seed + index + (self.epoch * self.count if self.fresh_each_epoch else 0)

    def __getitem__(self, index: int):
        seed = self.scene_seed(index)
        domain = self.domains[seed % len(self.domains)]
        scene = generate_scene(domain, seed, (self.scene_size, self.scene_size))
        classes = np.array([0] + [self.categories.index(i.category) + 1 for i in scene.instances], dtype=np.int64)
        rng = np.random.default_rng(seed + 7_000_003) if self.augment else None
        return _sample(scene.image, scene.labels, classes, self.input_size, rng)


def load_coco(coco_path: str | Path) -> dict:
    return json.loads(Path(coco_path).read_text())


def coco_first_n(coco_path: Path, n: int, out_path: Path) -> Path:
    """The first ``n`` images of a COCO file (and their annotations) at ``out_path``, image paths
    made absolute so the file works from any folder. Written atomically: several processes may
    write the same subset."""
    data = load_coco(coco_path)
    images = data["images"][:n]
    keep = {img["id"] for img in images}
    folder = coco_path.parent.resolve()
    tmp = out_path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({
        "images": [{**img, "file_name": str(folder / img["file_name"])} for img in images],
        "annotations": [a for a in data["annotations"] if a["image_id"] in keep],
        "categories": data["categories"],
    }))
    tmp.replace(out_path)
    return out_path


def annotation_mask(ann: dict, height: int, width: int) -> np.ndarray:
    """Bool mask of a COCO annotation (polygon list, RLE or uncompressed RLE) via ml.geometry."""
    seg = ann["segmentation"]
    if isinstance(seg, dict):
        return geometry.rle_to_mask(seg)
    shape = [[[[p[i], p[i + 1]] for i in range(0, len(p) - 1, 2)]] for p in seg if len(p) >= 6]
    return geometry.shape_to_mask(shape, height, width)


class CocoDataset(Dataset):
    """Images and instance masks from a COCO file; ``file_name`` is relative to ``images_dir``.

    Overlapping annotations are painted in order of decreasing area, so the smaller (usually
    the one on top) owns shared pixels.
    """

    def __init__(self, coco_path: str | Path, categories: list[str], input_size: int,
                 images_dir: str | Path | None = None, augment: bool = True, seed: int = 0):
        coco = load_coco(coco_path)
        self.images_dir = Path(images_dir) if images_dir is not None else Path(coco_path).parent
        self.images = coco["images"]
        by_id = {c["id"]: c["name"] for c in coco["categories"]}
        self.class_of = {cid: (categories.index(n) + 1 if n in categories else targets.IGNORE) for cid, n in by_id.items()}
        self.anns: dict[int, list[dict]] = {}
        for ann in coco["annotations"]:
            self.anns.setdefault(ann["image_id"], []).append(ann)
        self.input_size, self.augment, self.seed = input_size, augment, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.images)

    def read_image(self, index: int) -> np.ndarray:
        path = self.images_dir / self.images[index]["file_name"]
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f"cannot read image {path}")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def __getitem__(self, index: int):
        info = self.images[index]
        image = self.read_image(index)
        height, width = image.shape[:2]
        labels = np.zeros((height, width), dtype=np.int32)
        anns = sorted(self.anns.get(info["id"], []), key=lambda a: -float(a.get("area", 0)))
        classes = [0]
        for ann in anns:
            if ann.get("iscrowd", 0):
                continue
            labels[annotation_mask(ann, height, width)] = len(classes)
            classes.append(self.class_of.get(ann["category_id"], targets.IGNORE))
        rng = np.random.default_rng(self.seed + 1000 * self.epoch + index) if self.augment else None
        return _sample(image, labels, np.array(classes, dtype=np.int64), self.input_size, rng)


class RehearsalMix(Dataset):
    """A project's samples followed by ``rehearsal`` samples (e.g. fresh synthetic scenes of the
    base's own domains), so a fine-tune on a few skewed images does not forget what the base knew.

    ``set_epoch`` reaches both, so synthetic rehearsal scenes are new every epoch.
    """

    def __init__(self, primary: Dataset, rehearsal: Dataset):
        self.primary, self.rehearsal = primary, rehearsal

    def set_epoch(self, epoch: int) -> None:
        for part in (self.primary, self.rehearsal):
            part.set_epoch(epoch)  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self.primary) + len(self.rehearsal)  # type: ignore[arg-type]

    def __getitem__(self, index: int):
        n = len(self.primary)  # type: ignore[arg-type]
        return self.primary[index] if index < n else self.rehearsal[index - n]

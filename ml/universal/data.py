"""Training datasets: freshly generated synthetic scenes, or a COCO instances file.

All yield ``(image, semantic, interior, boxes)``: image float (3, S, S) in [0, 1] (resized so the
longest side is S = ``input_size`` and zero-padded), semantic uint8 and interior float32 at
stride 2, and int (``targets.MAX_BOXES``, 5) boxes at stride 2: x0, y0, x1, y1 and their kind, box
labels (the projection loss and the centre head learn from them) or instance masks' bounding
boxes (the centre head only; ``targets.with_kind``), rows of -1 for none. Categories map to indices by *name*: index
k + 1 is ``categories[k]``; COCO categories missing from that list are ignored in the loss.
Real photos labelled with boxes only come through ``BoxDataset``.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ml import geometry
from ml.synth import generate_scene
from ml.synth.camera import camera_effects
from ml.synth.scene import camera_augment
from ml.universal import targets
from ml.universal.photo_augment import augment_photo, mosaic


def _augment(
    rng: np.random.Generator, image: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
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
    labels = cv2.resize(
        labels.astype(np.float32), (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST
    )
    pad = (input_size, input_size)
    labels = labels.astype(np.int64)
    semantic, interior = targets.instance_targets(labels, classes, pad)
    return (
        targets.to_tensor(image, pad),
        torch.from_numpy(semantic).long(),
        torch.from_numpy(interior),
        torch.from_numpy(targets.mask_boxes(labels, classes)),
    )


class SyntheticDataset(Dataset):
    """``count`` scenes per epoch from ``domains``; call ``set_epoch`` to draw fresh seeds."""

    def __init__(
        self,
        domains: list[str],
        count: int,
        seed: int,
        input_size: int,
        categories: list[str],
        augment: bool = True,
        fresh_each_epoch: bool = True,
        scene_size: int = 512,
        camera: float = 0.0,
    ):
        self.scene_size = scene_size  # rendered at this size, then resized like any input image
        # Share of scenes seen through ml.synth's camera_augment (warp, light, blur, noise, greyscale, JPEG),
        # so the clean renders look more like phone and ceiling-camera photos.
        self.camera = float(camera)
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
        if self.augment and self.camera > 0:
            camera_rng = np.random.default_rng(seed + 9_000_011)
            if camera_rng.random() < self.camera:
                scene = camera_augment(scene, camera_rng)
        classes = np.array(
            [0] + [self.categories.index(i.category) + 1 for i in scene.instances], dtype=np.int64
        )
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
    tmp.write_text(
        json.dumps(
            {
                "images": [{**img, "file_name": str(folder / img["file_name"])} for img in images],
                "annotations": [a for a in data["annotations"] if a["image_id"] in keep],
                "categories": data["categories"],
            }
        )
    )
    tmp.replace(out_path)
    return out_path


def read_rgb(path: Path) -> np.ndarray:
    """uint8 RGB (H, W, 3) of an image file; FileNotFoundError names a file that cannot be read."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


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

    def __init__(
        self,
        coco_path: str | Path,
        categories: list[str],
        input_size: int,
        images_dir: str | Path | None = None,
        augment: bool = True,
        seed: int = 0,
    ):
        coco = load_coco(coco_path)
        self.images_dir = Path(images_dir) if images_dir is not None else Path(coco_path).parent
        self.images = coco["images"]
        by_id = {c["id"]: c["name"] for c in coco["categories"]}
        self.class_of = {
            cid: (categories.index(n) + 1 if n in categories else targets.IGNORE) for cid, n in by_id.items()
        }
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
        return read_rgb(self.images_dir / self.images[index]["file_name"])

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


def capture_series(source_map: str | Path) -> dict[str, str]:
    """file_name -> capture series ("" for web images) from the real set's ``source_map.csv``
    (``../shared/tools/build_public_boxes.py``): captures are the images whose series is set."""
    with open(source_map, newline="") as handle:
        return {row["file_name"]: row["series"] for row in csv.DictReader(handle) if row["kept"] == "True"}


def series_kind(series: str) -> str:
    """The kind of a capture series, its first word after the export's slug: "boxes-ou3c2: video
    IMG_0261_mp4" -> "video" (the kinds are video, burst, session and rig)."""
    words = series.split(":", 1)[-1].split()
    return words[0] if words else ""


def select_images(images: list[dict], series: dict[str, str], subset: str) -> list[dict]:
    """The images of ``subset``: "captures" (series set), "web" (no series) or "all"."""
    if subset == "all":
        return list(images)
    if subset not in ("captures", "web"):
        raise ValueError(f"unknown subset {subset!r}; choose captures, web or all")
    want = subset == "captures"
    return [img for img in images if bool(series.get(img["file_name"], "")) == want]


class BoxDataset(Dataset):
    """Real photos labelled with boxes (COCO detection), targets from ``targets.box_targets``.

    Every box is a ``category`` package (the real set has one category, cardboard_box), or with
    ``"any"`` a package whose category the box does not say (``targets.ANY_PACKAGE``). Labels
    count as partial (``targets.box_targets``): video frames leave the cartons of neighbouring bays
    unlabelled, and photo bursts and sessions leave some stacks at the side unlabelled too (seen
    on the training captures), so background is taken as known only around the labelled boxes.
    Augmentation: a random zoom crop (60-100 % of each side), a mirror
    image about the vertical axis (photos are upright: no vertical flips or turns), brightness and
    contrast jitter, exposure (``PHOTO_GAMMA``), and greyscale (the ceiling rig's camera) with
    probability ``GREYSCALE_P``. Two more, off by default: ``zoom_out`` (> 1) shows a share
    ``ZOOM_OUT_P`` of photos smaller on a canvas up to that many times their size (small cartons on dense
    shelves), and ``camera`` is the share seen through ``ml.synth.camera.camera_effects`` at
    ``CAMERA_STRENGTH`` (blur, noise, light, JPEG: what another phone or rig does), and ``mosaic`` is the
    share shown as ``photo_augment.mosaic`` of four photos (this one and three drawn at random), each
    augmented on its own: contexts and scales that no one training photo has.
    """

    GREYSCALE_P = 0.2
    ZOOM_OUT_P = 0.3
    CAMERA_STRENGTH = 0.6

    def __init__(
        self,
        coco_path: str | Path,
        categories: list[str],
        input_size: int,
        source_map: str | Path,
        subset: str = "captures",
        images_dir: str | Path | None = None,
        category: str = "cardboard_box",
        augment: bool = True,
        seed: int = 0,
        repeat: int = 1,
        background: bool = True,
        series_kinds: tuple[str, ...] = (),
        zoom_out: float = 1.0,
        camera: float = 0.0,
        mosaic: float = 0.0,
    ):
        if zoom_out < 1.0 or not 0.0 <= camera <= 1.0 or not 0.0 <= mosaic <= 1.0:
            raise ValueError(
                "zoom_out must be >= 1 and camera and mosaic shares in [0, 1], "
                f"got {zoom_out}, {camera} and {mosaic}"
            )
        self.zoom_out, self.camera, self.mosaic = float(zoom_out), float(camera), float(mosaic)
        coco = load_coco(coco_path)
        self.images_dir = Path(images_dir) if images_dir is not None else Path(coco_path).parent
        series = capture_series(source_map)
        self.images = select_images(coco["images"], series, subset)
        if series_kinds:  # e.g. ("burst", "session"): only the captures of those kinds of series
            self.images = [
                img for img in self.images if series_kind(series[img["file_name"]]) in series_kinds
            ]
        if not self.images:
            kinds = f" of series kinds {list(series_kinds)}" if series_kinds else ""
            raise ValueError(f"{coco_path} holds no {subset} images{kinds}")
        self.boxes: dict[int, list[list[float]]] = {}
        for ann in coco["annotations"]:
            if not ann.get("iscrowd", 0):
                x, y, w, h = ann["bbox"]
                self.boxes.setdefault(ann["image_id"], []).append([x, y, x + w, y + h])
        # "any": the boxes say where a package is, not which (``targets.ANY_PACKAGE``)
        self.class_index = targets.ANY_PACKAGE if category == "any" else categories.index(category) + 1
        self.input_size, self.augment, self.seed, self.repeat = input_size, augment, seed, int(repeat)
        self.background = bool(background)  # False: positives only (``targets.box_targets``)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.images) * self.repeat

    def photo(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 RGB image, its labelled boxes (N, 4) x0, y0, x1, y1) of sample ``index``, unaugmented."""
        info = self.images[index % len(self.images)]
        boxes = np.array(self.boxes.get(info["id"], []), dtype=np.float64).reshape(-1, 4)
        return read_rgb(self.images_dir / info["file_name"]), boxes

    def _augmented(
        self, rng: np.random.Generator, image: np.ndarray, boxes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        return augment_photo(rng, image, boxes, self.GREYSCALE_P, self.ZOOM_OUT_P, self.zoom_out)

    def __getitem__(self, index: int):
        image, boxes = self.photo(index)
        if self.augment:
            rng = np.random.default_rng(self.seed + 1000 * self.epoch + index)
            if self.mosaic and rng.random() < self.mosaic:
                others = [int(i) for i in rng.integers(len(self.images), size=3)]
                tiles = [
                    self._augmented(rng, image, boxes),
                    *(self._augmented(rng, *self.photo(i)) for i in others),
                ]
                image, boxes = mosaic(rng, tiles, self.input_size)
            else:
                image, boxes = self._augmented(rng, image, boxes)
            if rng.random() < self.camera:
                image = camera_effects(image, rng, self.CAMERA_STRENGTH)
        image, scale = targets.resize_long_side(image, self.input_size)
        pad = (self.input_size, self.input_size)
        semantic, interior, projection = targets.box_targets(
            boxes * scale, self.class_index, image.shape[:2], pad, partial=True, background=self.background
        )
        return (
            targets.to_tensor(image, pad),
            torch.from_numpy(semantic).long(),
            torch.from_numpy(interior),
            torch.from_numpy(targets.with_kind(projection, targets.BOX_LABEL)),
        )


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

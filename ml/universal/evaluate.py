"""Mask AP and box AP of a checkpoint with pycocotools (COCOeval, iouType "segm" and "bbox").

    python -m ml.universal.evaluate --checkpoint ml/checkpoints/universal_base.pt --synthetic 200 --seed 1234 --json
    python -m ml.universal.evaluate --coco val.json --images DIR --json
    python -m ml.universal.evaluate --coco val.json --json --class-agnostic --subset captures  # real photos, boxes
    python -m ml.universal.evaluate --synthetic 200 --against OTHER.pt --json   # paired bootstrap of the two

Predicted categories are matched to the ground truth's categories by *name*; ``--class-agnostic``
makes every label and every prediction one category ("package").

On a COCO file (``evaluate_coco``) each prediction is also scored as a box, ``geometry.mask_bbox``
of its mask, against the labelled boxes: box AP, and at the checkpoint's pre-label threshold the
share of labelled boxes found (``recall50``) and the shapes that match none (``false_shapes_per_image``);
``--threshold`` sets another threshold. ``box_metrics`` does the same for a loaded predictor and also
returns every prediction's (score, matched) pair, for calibration.
Mask figures come only from a file whose every annotation has a ``segmentation``, unless
``--boxes-only``: a file that mixes boxes with a few polygons (the real set's polygons outline one
face of a carton) has labels that are not masks.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import io
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ml import geometry
from ml.universal.calibration import calibrated_score

if TYPE_CHECKING:
    from ml.universal.predictor import Instance, UniversalPredictor

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "universal_base.pt"


def coco_from_dict(data: dict[str, Any]) -> COCO:
    """A pycocotools COCO index built from an in-memory dict, without its chatter on stdout.

    COCO's optional ``info`` is filled in where missing: pycocotools 2.0.10's ``loadRes`` needs it.
    """
    coco = COCO()
    coco.dataset = {"info": {}, **data}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


RESULT_KEYS = ("image_id", "category_id", "segmentation", "score")


class CocoMaskEvaluator:
    """Collects predictions image by image (``update``), then runs COCOeval (``summarize``)."""

    def __init__(self, coco_gt: COCO, class_agnostic: bool = False):
        """``class_agnostic``: every prediction counts as the ground truth's one category
        (``class_agnostic_coco`` makes a file's categories one)."""
        self.coco_gt = coco_gt
        self.id_of = {c["name"]: c["id"] for c in coco_gt.loadCats(coco_gt.getCatIds())}
        if class_agnostic and len(self.id_of) != 1:
            raise ValueError(
                f"class-agnostic scoring needs one ground-truth category, got {sorted(self.id_of)}"
            )
        self.class_agnostic = class_agnostic
        self.results: list[dict[str, Any]] = []
        self.image_ids: list[int] = []

    def update(self, image_id: int, instances: list, categories: list[str] | None = None) -> None:
        """Add one image's predictions (objects with ``.mask``, ``.category``, ``.score``)."""
        self.image_ids.append(image_id)
        for inst in instances:
            if not self.class_agnostic and inst.category not in self.id_of:
                continue
            self.results.append(
                {
                    "image_id": image_id,
                    "category_id": next(iter(self.id_of.values()))
                    if self.class_agnostic
                    else self.id_of[inst.category],
                    "segmentation": geometry.mask_to_rle(inst.mask),
                    "score": float(inst.score),
                }
            )

    def summarize(self, image_ids: Iterable[int] | None = None) -> dict[str, Any]:
        """{"mask_ap", "mask_ap50", "mask_ap75", "per_class": {name: AP}} over the updated images, or only
        over those of them in ``image_ids`` (a subset scored without predicting again)."""
        scored = set(self.image_ids) if image_ids is None else set(self.image_ids) & set(image_ids)
        results = [r for r in self.results if r["image_id"] in scored]
        if not results:
            return {
                "mask_ap": 0.0,
                "mask_ap50": 0.0,
                "mask_ap75": 0.0,
                "per_class": {n: 0.0 for n in self.id_of},
            }
        with contextlib.redirect_stdout(io.StringIO()):
            # loadRes adds area, bbox and id to the dicts it gets: hand it copies, so summarize can run again
            coco_dt = self.coco_gt.loadRes([{k: r[k] for k in RESULT_KEYS} for r in results])
            ev = COCOeval(self.coco_gt, coco_dt, iouType="segm")
            ev.params.imgIds = sorted(scored)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        # precision: [T iou thresholds, R recall points, K categories, A area ranges, M max dets]
        precision = ev.eval["precision"][:, :, :, 0, -1]
        per_class = {}
        for k, cat_id in enumerate(ev.params.catIds):
            p = precision[:, :, k]
            per_class[self.coco_gt.cats[cat_id]["name"]] = (
                round(float(p[p > -1].mean()), 4) if (p > -1).any() else None
            )
        return {
            "mask_ap": round(float(ev.stats[0]), 4),
            "mask_ap50": round(float(ev.stats[1]), 4),
            "mask_ap75": round(float(ev.stats[2]), 4),
            "per_class": per_class,
        }


def predictions(checkpoint: str | Path, coco_path: str | Path) -> CocoMaskEvaluator:
    """``checkpoint``'s predictions on every image of a COCO file, collected (not yet scored)."""
    from ml.universal.predictor import UniversalPredictor

    predictor = UniversalPredictor.from_checkpoint(checkpoint)
    coco = coco_from_dict(json.loads(Path(coco_path).read_text()))
    evaluator = CocoMaskEvaluator(coco)
    for image_id, image in _read_images(coco, Path(coco_path).parent):
        evaluator.update(image_id, predictor.predict(image).instances)
    return evaluator


def paired_bootstrap(
    a: CocoMaskEvaluator,
    b: CocoMaskEvaluator,
    draws: int = 200,
    seed: int = 0,
    metrics: tuple[str, ...] = ("mask_ap",),
) -> dict[str, Any]:
    """Mask AP of ``a`` minus ``b`` (same ground truth) over ``draws`` resamples of the images.

    Each draw picks as many images as there are, with replacement; a picked image and its
    annotations and predictions are copied under a new id, so repeats count as separate images.
    Returns the mean difference, its 95% interval (2.5th and 97.5th percentiles) and the share
    of draws in which ``a`` scores at least as high as ``b``, for ``metrics[0]`` (a key of
    ``summarize()``); with more ``metrics``, ``per_metric`` holds the same for each, from the
    same draws.
    """

    def by_image(entries: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
        grouped: dict[int, list[dict[str, Any]]] = {}
        for entry in entries:
            grouped.setdefault(entry["image_id"], []).append(entry)
        return grouped

    gt = a.coco_gt.dataset
    image_ids = sorted(set(a.image_ids))
    images = {img["id"]: img for img in gt["images"]}
    anns, results_a, results_b = by_image(gt["annotations"]), by_image(a.results), by_image(b.results)
    rng = np.random.default_rng(seed)
    diffs: dict[str, list[float]] = {name: [] for name in metrics}
    for _ in range(draws):
        picked = rng.choice(image_ids, size=len(image_ids), replace=True)
        new_images: list[dict[str, Any]] = []
        new_anns: list[dict[str, Any]] = []
        dt_a: list[dict[str, Any]] = []
        dt_b: list[dict[str, Any]] = []
        for new_id, old_id in enumerate(picked.tolist(), start=1):
            new_images.append({**images[old_id], "id": new_id})
            first_id = (
                len(new_anns) + 1
            )  # taken before extend: the list grows while it consumes the generator
            new_anns.extend(
                {**ann, "image_id": new_id, "id": first_id + k} for k, ann in enumerate(anns.get(old_id, []))
            )
            dt_a.extend({**r, "image_id": new_id} for r in results_a.get(old_id, []))
            dt_b.extend({**r, "image_id": new_id} for r in results_b.get(old_id, []))
        scores = []
        for results in (dt_a, dt_b):
            evaluator = CocoMaskEvaluator(
                coco_from_dict({**gt, "images": new_images, "annotations": new_anns})
            )
            evaluator.results, evaluator.image_ids = results, list(range(1, len(picked) + 1))
            scores.append(evaluator.summarize())
        for name in metrics:
            diffs[name].append(scores[0][name] - scores[1][name])

    def spread(values: list[float]) -> dict[str, Any]:
        lo, hi = np.percentile(values, [2.5, 97.5])
        return {
            "mean_difference": round(float(np.mean(values)), 4),
            "ci95": [round(float(lo), 4), round(float(hi), 4)],
            "share_a_at_least_b": round(float(np.mean(np.array(values) >= 0)), 3),
        }

    report = {**spread(diffs[metrics[0]]), "draws": draws}
    if len(metrics) > 1:
        report["per_metric"] = {name: spread(values) for name, values in diffs.items()}
    return report


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


# --------------------------------------------------------------------------- boxes

Box = Sequence[float]  # COCO [x, y, width, height] in image pixels, pixel corners (as geometry.mask_bbox)
PACKAGE = "package"  # the one category of class-agnostic scoring


class EvaluationInputError(ValueError):
    """A COCO file, image folder, source map, subset or checkpoint that cannot be evaluated; the message names it."""


@dataclass(frozen=True)
class ImageBoxes:
    """One image's predicted boxes and scores, and its labelled boxes (``Box``es).

    ``scores`` are the predictor's (calibrated probabilities when the checkpoint has a calibration),
    ``raw_scores`` the grouping's before calibration (None: the same as ``scores``). ``categories``
    and ``gt_categories`` name each box; None puts every box in one category.
    """

    image_id: int
    boxes: Sequence[Box]
    scores: Sequence[float]
    gt_boxes: Sequence[Box]
    raw_scores: Sequence[float] | None = None
    categories: Sequence[str] | None = None
    gt_categories: Sequence[str] | None = None


@dataclass(frozen=True)
class BoxMatch:
    """One predicted box, for calibration: its scores and whether it matched a labelled box."""

    image_id: int
    raw_score: float
    score: float
    matched: bool


def match_boxes(
    boxes: Sequence[Box], scores: Sequence[float], gt_boxes: Sequence[Box], iou_threshold: float = 0.5
) -> list[bool]:
    """Whether each predicted box (in the order given) matches a labelled box at IoU >= ``iou_threshold``.

    One-to-one and greedy as in COCOeval: in descending score (ties in the order given), each
    prediction takes the still unmatched labelled box it overlaps most. Categories play no part.
    """
    matched = [False] * len(boxes)
    if len(boxes) != len(scores):
        raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
    if not boxes or not gt_boxes:
        return matched
    ious = np.asarray(
        mask_utils.iou(
            np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
            np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4),
            [0] * len(gt_boxes),
        )
    )
    taken = np.zeros(len(gt_boxes), dtype=bool)
    for i in np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable"):
        free = np.where(taken, -1.0, ious[i])
        j = int(np.argmax(free))
        if free[j] >= iou_threshold:
            taken[j] = matched[i] = True
    return matched


def box_matches(images: Iterable[ImageBoxes], iou_threshold: float = 0.5) -> list[BoxMatch]:
    """Every predicted box of ``images`` with its raw and calibrated score and whether it matched a
    labelled box of its image (``match_boxes``, class-agnostic): the data ``calibration.fit_platt`` fits."""
    rows: list[BoxMatch] = []
    for img in images:
        raw = img.scores if img.raw_scores is None else img.raw_scores
        matched = match_boxes(img.boxes, img.scores, img.gt_boxes, iou_threshold)
        rows.extend(
            BoxMatch(img.image_id, float(r), float(s), m)
            for r, s, m in zip(raw, img.scores, matched, strict=True)
        )
    return rows


def box_figures(
    images: Sequence[ImageBoxes], threshold: float, class_agnostic: bool = True
) -> dict[str, Any]:
    """Box AP of ``images`` (COCOeval, iouType="bbox", every score), and at IoU 0.5 among the
    predictions scoring >= ``threshold``: ``recall50``, the share of labelled boxes they match;
    ``false_shapes_per_image``, those of them that match none, per image; ``shapes_per_image``, all of them.

    Box AP is per category (by name) unless ``class_agnostic``, and sees COCO's 100 best predictions
    of an image; recall and false shapes see all of them and ask whether a package was found,
    whatever it was named. Figures without labelled boxes are None.
    """
    found = gt_count = shapes = false = 0
    for img in images:
        keep = [k for k, score in enumerate(img.scores) if score >= threshold]
        matched = match_boxes([img.boxes[k] for k in keep], [img.scores[k] for k in keep], img.gt_boxes)
        found, gt_count = found + sum(matched), gt_count + len(img.gt_boxes)
        shapes, false = shapes + len(keep), false + matched.count(False)
    count = max(len(images), 1)
    return {
        **_box_ap(images, class_agnostic),
        "recall50": round(found / gt_count, 4) if gt_count else None,
        "false_shapes_per_image": round(false / count, 4),
        "shapes_per_image": round(shapes / count, 4),
        "threshold": threshold,
        "images": len(images),
        "gt_boxes": gt_count,
    }


def _box_ap(images: Sequence[ImageBoxes], class_agnostic: bool) -> dict[str, float | None]:
    def names(given: Sequence[str] | None, count: int) -> list[str]:
        return [PACKAGE] * count if class_agnostic or given is None else [str(name) for name in given]

    image_ids = [img.image_id for img in images]
    if len(set(image_ids)) != len(image_ids):
        raise ValueError("an image id appears twice")
    gt_names = {img.image_id: names(img.gt_categories, len(img.gt_boxes)) for img in images}
    category_id = {name: k + 1 for k, name in enumerate(sorted({n for v in gt_names.values() for n in v}))}
    annotations: list[dict[str, Any]] = []
    for img in images:
        for box, name in zip(img.gt_boxes, gt_names[img.image_id], strict=True):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": img.image_id,
                    "category_id": category_id[name],
                    "bbox": [float(v) for v in box],
                    "area": float(box[2]) * float(box[3]),
                    "iscrowd": 0,
                }
            )
    results = [
        {
            "image_id": img.image_id,
            "category_id": category_id[name],
            "bbox": [float(v) for v in box],
            "score": float(score),
        }
        for img in images
        for box, score, name in zip(img.boxes, img.scores, names(img.categories, len(img.boxes)), strict=True)
        if name in category_id
    ]
    if not annotations:
        return {"box_ap": None, "box_ap50": None, "box_ap75": None}
    if not results:
        return {"box_ap": 0.0, "box_ap50": 0.0, "box_ap75": 0.0}
    coco_gt = coco_from_dict(
        {
            "images": [{"id": i} for i in image_ids],
            "annotations": annotations,
            "categories": [{"id": i, "name": n} for n, i in category_id.items()],
        }
    )
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(coco_gt, coco_gt.loadRes(results), iouType="bbox")
        ev.params.imgIds = sorted(image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {
        "box_ap": round(float(ev.stats[0]), 4),
        "box_ap50": round(float(ev.stats[1]), 4),
        "box_ap75": round(float(ev.stats[2]), 4),
    }


def predict_boxes(
    predictor: UniversalPredictor,
    coco: str | Path | dict[str, Any],
    images_dir: str | Path | None = None,
    *,
    image_ids: Iterable[int] | None = None,
    on_instances: Callable[[int, list[Instance]], None] | None = None,
) -> list[ImageBoxes]:
    """``predictor``'s boxes on the images of a COCO file (a path, or a loaded dict with ``images_dir``;
    ``image_ids``: only those) beside each image's labelled boxes (crowd regions left out), for
    ``box_figures`` and ``box_matches``.

    A predicted box is ``geometry.mask_bbox`` of the instance's full-size mask; its score is the
    predictor's, its raw score the grouping's before the checkpoint's calibration. Images default
    to the file's folder. ``on_instances(image_id, instances)`` also gets each image's instances
    as ``predict`` returns them (e.g. ``CocoMaskEvaluator.update``).
    """
    if isinstance(coco, dict):
        if images_dir is None:
            raise ValueError("a COCO dict needs images_dir")
        data = coco
    else:
        data = json.loads(Path(coco).read_text())
    folder = Path(images_dir) if images_dir is not None else Path(str(coco)).parent
    calibration = predictor.meta.get("score_calibration")
    uncalibrated = copy.copy(predictor)  # the same model, scoring shapes without the calibration
    uncalibrated.meta = {k: v for k, v in predictor.meta.items() if k != "score_calibration"}
    names = {c["id"]: c["name"] for c in data.get("categories", [])}
    gt: dict[int, list[dict[str, Any]]] = {}
    for ann in data.get("annotations", []):
        if not ann.get("iscrowd", 0):
            gt.setdefault(ann["image_id"], []).append(ann)
    wanted = None if image_ids is None else set(image_ids)
    out = []
    for img in sorted(data["images"], key=lambda entry: entry["id"]):
        if wanted is not None and img["id"] not in wanted:
            continue
        instances = uncalibrated.predict(read_image(folder / img["file_name"])).instances
        raw = [float(inst.score) for inst in instances]
        for inst in instances:
            inst.score = calibrated_score(inst.score, calibration)
        if on_instances is not None:
            on_instances(img["id"], instances)
        anns = gt.get(img["id"], [])
        out.append(
            ImageBoxes(
                image_id=img["id"],
                boxes=[geometry.mask_bbox(inst.mask) for inst in instances],
                scores=[float(inst.score) for inst in instances],
                raw_scores=raw,
                gt_boxes=[[float(v) for v in ann["bbox"]] for ann in anns],
                categories=[inst.category for inst in instances],
                gt_categories=[names.get(ann["category_id"], str(ann["category_id"])) for ann in anns],
            )
        )
    return out


def class_agnostic_coco(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of a COCO dict whose annotations all belong to one category, ``PACKAGE``."""
    return {
        **data,
        "categories": [{"id": 1, "name": PACKAGE, "supercategory": PACKAGE}],
        "annotations": [{**ann, "category_id": 1} for ann in data.get("annotations", [])],
    }


def evaluate_checkpoint(
    checkpoint: str | Path, coco_path: str | Path, images_dir: str | Path | None = None
) -> dict:
    """Mask AP of ``checkpoint`` on a COCO file; images default to the file's folder."""
    from ml.universal.engine import evaluate
    from ml.universal.predictor import UniversalPredictor

    predictor = UniversalPredictor.from_checkpoint(checkpoint)
    data = json.loads(Path(coco_path).read_text())
    coco = coco_from_dict(data)
    folder = Path(images_dir) if images_dir is not None else Path(coco_path).parent
    return evaluate(predictor, _read_images(coco, folder), CocoMaskEvaluator(coco))


def evaluate_synthetic(checkpoint_or_predictor, count: int, seed: int, domain: str = "all") -> dict:
    """Mask AP on ``count`` freshly generated 512x512 scenes (seeds ``seed`` .. ``seed + count - 1``)."""
    from ml.universal.engine import evaluate
    from ml.universal.predictor import UniversalPredictor

    predictor = checkpoint_or_predictor
    if not isinstance(predictor, UniversalPredictor):
        predictor = UniversalPredictor.from_checkpoint(checkpoint_or_predictor)
    data, samples = synthetic_coco(count, seed, domain)
    return evaluate(predictor, samples, CocoMaskEvaluator(coco_from_dict(data)))


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


def compare(
    checkpoint_a: str | Path,
    checkpoint_b: str | Path,
    data: dict[str, Any],
    samples: list[tuple[int, np.ndarray]],
    draws: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Two checkpoints on the same images (``data`` COCO ground truth, ``samples`` its images): each
    one's metrics, and ``paired_bootstrap`` of a minus b for mask AP and AP50."""
    from ml.universal.engine import evaluate
    from ml.universal.predictor import UniversalPredictor

    report: dict[str, Any] = {}
    evaluators = []
    for key, checkpoint in (("a", checkpoint_a), ("b", checkpoint_b)):
        evaluators.append(CocoMaskEvaluator(coco_from_dict(copy.deepcopy(data))))
        metrics = evaluate(UniversalPredictor.from_checkpoint(checkpoint), samples, evaluators[-1])
        report[key] = {"checkpoint": str(checkpoint), **metrics}
    a, b = evaluators
    report["a_minus_b"] = paired_bootstrap(a, b, draws, seed, metrics=("mask_ap", "mask_ap50"))
    return report


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


def box_metrics(
    predictor: UniversalPredictor,
    coco_path: str | Path,
    images_dir: str | Path | None = None,
    subset: str | None = None,
    source_map: str | Path | None = None,
    threshold: float | None = None,
    *,
    class_agnostic: bool = True,
    boxes_only: bool = False,
) -> dict[str, Any]:
    """``predictor`` on a COCO file, each image predicted once: ``box_figures`` at ``threshold`` (default
    ``predictor.default_threshold``), mask figures when every annotation has a segmentation and not
    ``boxes_only``, and ``matches``, every prediction's ``BoxMatch`` (raw and calibrated score, matched
    at IoU 0.5 among all of its image's predictions) for ``calibration.fit_platt``.

    Takes a loaded predictor so a caller can score many checkpoints or grouping settings. Images
    default to the file's folder. ``subset`` ("captures", "web" or "all") picks images by
    ``source_map`` (default: ``source_map.csv`` beside the file); with "all" the report also holds
    ``subsets``, each one's figures. Bad input raises ``EvaluationInputError`` naming it.
    """
    data, folder, groups, chosen = coco_selection(coco_path, images_dir, subset, source_map)
    threshold = predictor.default_threshold if threshold is None else float(threshold)
    annotations = data.get("annotations", [])
    unmasked = sum(not ann.get("segmentation") for ann in annotations)
    if boxes_only or unmasked or not annotations:
        mask_figures = (
            "skipped: --boxes-only"
            if boxes_only
            else "skipped: no annotations"
            if not annotations
            else f"skipped: {unmasked} of {len(annotations)} annotations have no segmentation"
        )
        mask_evaluator = None
    else:
        mask_figures = "computed"
        gt = copy.deepcopy(
            class_agnostic_coco(data) if class_agnostic else data
        )  # COCOeval rewrites segmentations
        mask_evaluator = CocoMaskEvaluator(coco_from_dict(gt), class_agnostic=class_agnostic)

    start = time.perf_counter()
    boxes = predict_boxes(
        predictor,
        data,
        folder,
        image_ids=chosen,
        on_instances=mask_evaluator.update if mask_evaluator is not None else None,
    )
    seconds = time.perf_counter() - start

    def figures(image_ids: list[int]) -> dict[str, Any]:
        wanted = set(image_ids)
        report = box_figures([img for img in boxes if img.image_id in wanted], threshold, class_agnostic)
        if mask_evaluator is not None:
            report.update(mask_evaluator.summarize(image_ids))
        return report

    report = {
        "class_agnostic": class_agnostic,
        "subset": subset or "all",
        **figures(chosen),
        "mask_figures": mask_figures,
        "seconds_per_image": round(seconds / len(chosen), 4),
    }
    if subset == "all":
        report["subsets"] = {name: figures(ids) for name, ids in groups.items() if ids}
    report["matches"] = box_matches(boxes)
    return report


def evaluate_coco(
    checkpoint: str | Path,
    coco_path: str | Path,
    images_dir: str | Path | None = None,
    *,
    class_agnostic: bool = False,
    boxes_only: bool = False,
    subset: str | None = None,
    source_map: str | Path | None = None,
    threshold: float | None = None,
) -> dict[str, Any]:
    """``box_metrics`` of ``checkpoint`` (threshold default: its ``default_threshold``), without the
    per-prediction ``matches``: the CLI's report. Bad input raises ``EvaluationInputError`` naming it."""
    from ml.universal.predictor import UniversalPredictor

    if not Path(checkpoint).is_file():
        raise EvaluationInputError(f"checkpoint {checkpoint} does not exist")
    report = box_metrics(
        UniversalPredictor.from_checkpoint(checkpoint),
        coco_path,
        images_dir,
        subset,
        source_map,
        threshold,
        class_agnostic=class_agnostic,
        boxes_only=boxes_only,
    )
    del report["matches"]
    return {"checkpoint": str(checkpoint), **report}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Mask AP and box AP of a universal-model checkpoint.")
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--synthetic", type=int, metavar="N", help="evaluate on N fresh synthetic scenes")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--domain", default="all", help="synthetic domain (default: all, cycling)")
    parser.add_argument(
        "--coco", help="COCO instances file to evaluate on (boxes; masks where every annotation has one)"
    )
    parser.add_argument("--images", help="folder holding the COCO file's images (default: its folder)")
    parser.add_argument(
        "--class-agnostic",
        action="store_true",
        help="with --coco: every label and prediction is one category",
    )
    parser.add_argument(
        "--boxes-only",
        action="store_true",
        help="with --coco: no mask figures. Without it, mask "
        "AP comes only from a file whose every annotation has a segmentation that is the whole "
        "object's mask; pass it for the real set, whose polygons outline one face of a carton",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        metavar="X",
        help="with --coco: score threshold of recall50, "
        "false_shapes_per_image and shapes_per_image (default: the checkpoint's default_threshold)",
    )
    parser.add_argument(
        "--subset",
        choices=SUBSETS,
        help="with --coco: the real set's captures (a series in the "
        "source map), web images (none), or all, reported as a whole and per subset",
    )
    parser.add_argument(
        "--source-map", metavar="CSV", help="the real set's source_map.csv (default: beside --coco)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--against",
        metavar="CKPT",
        help="also run CKPT on the same images and bootstrap the "
        "difference (--checkpoint minus CKPT, mask AP and AP50)",
    )
    parser.add_argument("--draws", type=int, default=200, help="bootstrap draws for --against (default 200)")
    args = parser.parse_args(argv)
    coco_only = [
        flag
        for flag, given in (
            ("--class-agnostic", args.class_agnostic),
            ("--boxes-only", args.boxes_only),
            ("--threshold", args.threshold is not None),
            ("--subset", args.subset),
            ("--source-map", args.source_map),
        )
        if given
    ]
    if coco_only and (not args.coco or args.against):
        parser.error(f"{', '.join(coco_only)} go with --coco FILE (and not with --against)")
    start = time.perf_counter()
    try:
        if args.against:
            if args.coco:
                spec: dict[str, Any] = {"coco": args.coco, "images_dir": args.images}
            elif args.synthetic:
                spec = {"synthetic": {"count": args.synthetic, "seed": args.seed, "domain": args.domain}}
            else:
                parser.error("give --synthetic N or --coco FILE")
            metrics = compare(args.checkpoint, args.against, *samples_from_spec(spec), args.draws)
        elif args.coco:
            metrics = evaluate_coco(
                args.checkpoint,
                args.coco,
                args.images,
                class_agnostic=args.class_agnostic,
                boxes_only=args.boxes_only,
                subset=args.subset,
                source_map=args.source_map,
                threshold=args.threshold,
            )
        elif args.synthetic:
            metrics = evaluate_synthetic(args.checkpoint, args.synthetic, args.seed, args.domain)
        else:
            parser.error("give --synthetic N or --coco FILE")
    except EvaluationInputError as exc:
        parser.error(str(exc))
    metrics["wall_seconds"] = round(time.perf_counter() - start, 2)
    if args.json:
        print(json.dumps(metrics))
    else:
        for key, value in metrics.items():
            print(f"{key:>22}: {value}")


if __name__ == "__main__":
    main()

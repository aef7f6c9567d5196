"""COCO-style scoring of predictions already made: mask AP (pycocotools COCOeval, iouType "segm"),
box AP, box matching at IoU 0.5 and a paired bootstrap of two models on the same images.

Nothing here runs a model: the evaluator objects collect predictions (``update``) and score them
(``summarize``), so the training loop (``engine.evaluate``), the CLI (``evaluate``) and the
experiments share them.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ml import geometry


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

    @classmethod
    def from_dict(cls, data: dict[str, Any], class_agnostic: bool = False) -> CocoMaskEvaluator:
        """An evaluator of a COCO dict; ``class_agnostic`` first makes its categories one
        (``class_agnostic_coco``), so that it counts finding packages and not naming them."""
        return cls(coco_from_dict(class_agnostic_coco(data) if class_agnostic else data), class_agnostic)

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


# --------------------------------------------------------------------------- boxes

Box = Sequence[float]  # COCO [x, y, width, height] in image pixels, pixel corners (as geometry.mask_bbox)
PACKAGE = "package"  # the one category of class-agnostic scoring


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
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    columns = geometry.greedy_matches(geometry.box_iou_matrix(boxes, gt_boxes)[order], iou_threshold)
    for i, column in zip(order, columns, strict=True):
        matched[i] = bool(column >= 0)
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


def class_agnostic_coco(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of a COCO dict whose annotations all belong to one category, ``PACKAGE``."""
    return {
        **data,
        "categories": [{"id": 1, "name": PACKAGE, "supercategory": PACKAGE}],
        "annotations": [{**ann, "category_id": 1} for ann in data.get("annotations", [])],
    }


# An image's best scores, whether each matched a labelled box, and its labelled box count (image_matches).
ImageMatches = tuple[np.ndarray, np.ndarray, int]


def image_matches(img: ImageBoxes, max_dets: int = 100) -> ImageMatches:
    """An image's ``max_dets`` best scores, whether each matches a labelled box at IoU 0.5 (COCOeval's
    greedy one-to-one matching), and its number of labelled boxes."""
    keep = np.argsort(-np.asarray(img.scores, dtype=np.float64), kind="stable")[:max_dets]
    boxes = [img.boxes[k] for k in keep]
    scores = [float(img.scores[k]) for k in keep]
    matched = match_boxes(boxes, scores, img.gt_boxes)
    return np.asarray(scores, dtype=np.float64), np.asarray(matched, dtype=bool), len(img.gt_boxes)


def ap_from_matches(scores: np.ndarray, matched: np.ndarray, labelled: int) -> float:
    """COCOeval's 101-point interpolated AP of pooled (score, matched) pairs against ``labelled`` boxes."""
    if labelled == 0 or len(scores) == 0:  # nothing to find, or nothing found
        return 0.0
    order = np.argsort(-scores, kind="mergesort")  # COCOeval's sort
    tp = np.cumsum(matched[order])
    fp = np.cumsum(~matched[order])
    recall = tp / labelled
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # the envelope, from the right
    at = np.searchsorted(recall, np.linspace(0.0, 1.0, 101), side="left")
    return float(np.where(at < len(precision), precision[np.minimum(at, len(precision) - 1)], 0.0).mean())


def pooled_ap50(per_image: Sequence[ImageMatches], picked: Iterable[int]) -> float:
    """Box AP50 of the ``picked`` images (indices into ``per_image``, repeats allowed: a bootstrap draw) pooled,
    from each one's ``image_matches``: COCOeval's figure without a COCOeval run per draw."""
    chosen = [per_image[int(k)] for k in picked]
    if not chosen:
        return 0.0
    return ap_from_matches(
        np.concatenate([m[0] for m in chosen]),
        np.concatenate([m[1] for m in chosen]),
        sum(m[2] for m in chosen),
    )

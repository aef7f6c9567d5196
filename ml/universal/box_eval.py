"""A checkpoint's boxes on a COCO file of photos: each prediction scored as a box (``geometry.mask_bbox``
of its mask) against the labelled boxes, box AP, recall and false shapes at a threshold, mask AP where
every annotation is a mask, and every prediction's match for calibration. ``evaluate --coco`` reports it.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml import geometry
from ml.universal.calibration import calibrated_score
from ml.universal.coco_eval import (
    CocoMaskEvaluator,
    ImageBoxes,
    box_figures,
    box_matches,
)
from ml.universal.eval_data import EvaluationInputError, coco_selection, read_image

if TYPE_CHECKING:
    from ml.universal.predictor import Instance, UniversalPredictor


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


def checkpoint_boxes(
    checkpoint: str | Path, coco: str | Path, images_dir: str | Path | None = None
) -> list[ImageBoxes]:
    """``predict_boxes`` of a checkpoint with its raw scores (its calibration, if any, left off: box AP ranks
    the scores, and a fine-tune's base's calibration is not its own)."""
    from ml.universal.predictor import UniversalPredictor

    predictor = UniversalPredictor.from_checkpoint(checkpoint)
    predictor.meta["score_calibration"] = None
    return predict_boxes(predictor, coco, images_dir)


def box_ap50(checkpoint: str | Path, coco: str | Path, images_dir: str | Path | None = None) -> float:
    """Class-agnostic box AP50 of ``checkpoint`` on a COCO file of boxes (0.0 where it has no labelled box)."""
    return images_ap50(checkpoint_boxes(checkpoint, coco, images_dir))


def images_ap50(images: list[ImageBoxes]) -> float:
    """Class-agnostic box AP50 of predictions already made (``checkpoint_boxes``), 0.0 with no labelled box."""
    return float(box_figures(images, threshold=0.0)["box_ap50"] or 0.0)


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
        # a copy: COCOeval rewrites segmentations
        mask_evaluator = CocoMaskEvaluator.from_dict(copy.deepcopy(data), class_agnostic)

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

"""Fit a checkpoint's rescorer (``ml.universal.rescoring``) on labelled training shapes, chosen on val.

    python -m ml.universal.rescore CKPT --coco DATA/train.json --val-coco DATA/val.json [--set center_agreement=0.6] \
        [--input-size 576 --flips x] [--tower-sizes 576] --out CKPT
    python -m ml.universal.calibrate CKPT --coco DATA/val.json ...   # then, always

1. **Shapes.** The checkpoint's own shapes, at its own grouping, on real training photos (``--subset``,
   at most ``--limit`` of them drawn with seed 0), each correct when its mask's box matches a labelled
   box at IoU >= 0.5; and on fresh synthetic scenes (``SYNTHETIC_FIT``, and ``NO_PACKAGE_FIT`` scenes with
   no package: seeds that no training config and no guard uses), each correct when its mask matches a
   drawn package at mask IoU >= 0.5. ``--input-size`` and ``--flips`` fit at another input size and set of
   test-time flips (the shapes, and so the features, change with them); the checkpoint keeps them. So does
   ``--tower-sizes`` (``UniversalPredictor._tower``).
2. **Choice.** One rescorer is fitted per weight of the synthetic shapes (``SYNTHETIC_WEIGHTS``). As in
   ``calibrate``, the best class-agnostic box AP50 on the real val photos wins among those that keep the
   synthetic val mask AP at ``SYNTHETIC_FLOOR`` (or, for a checkpoint already below it, within
   ``GUARD_TOLERANCE`` of its own; ``--synthetic-floor``: a fixed floor, as ``calibrate``'s); it must also
   beat the checkpoint without a rescorer, or none is stored.
   ``--perturb`` fits on the training photos as training shows them (``perturbed``): the tower has fitted
   those photos (box AP50 0.88-0.97 on them against 0.39 on val, the seventeenth file), so its evidence on
   them is surer than on any photo it has not seen; zoomed out and through a camera's effects, less so.
3. **Then calibrate.** The scores change, so the checkpoint's Platt fit and default threshold are
   dropped; ``calibrate`` fits them again on the rescored val shapes (and may move the grouping).

Why synthetic shapes too: fitted on real training photos alone, the rescorer took real val captures
from 0.288 to 0.339 AP50 but synthetic val mask AP from 0.851 to 0.832; the scenes keep the rescorer
honest about mask quality, which boxes cannot show (2026-12-07, the model card "Rescoring").
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ml import geometry
from ml.synth.camera import camera_effects
from ml.universal.calibrate import GUARD_TOLERANCE, SYNTHETIC_FLOOR, SYNTHETIC_GUARD, CachedMaps
from ml.universal.checkpoint import load_checkpoint, save_checkpoint
from ml.universal.coco_eval import coco_from_dict
from ml.universal.data import BoxDataset
from ml.universal.eval_data import labelled_photos
from ml.universal.evaluate import box_figures, synthetic_coco
from ml.universal.grouping import GroupingParams, RawInstance
from ml.universal.model import UniversalNet
from ml.universal.photo_augment import augment_photo
from ml.universal.predictor import UniversalPredictor, parse_flips
from ml.universal.rescoring import FEATURES, Rescorer, fit_rescorer, shape_features

SYNTHETIC_FIT = {"count": 200, "seed": 700_000}
# ... and scenes with no package, every shape on them false: without them the rescorer fitted at centre agreement
# 0.6 drew 0.23 shapes per empty scene at its default threshold, over calibrate's NO_PACKAGE_LIMIT (2026-12-07).
NO_PACKAGE_FIT = {"count": 100, "seed": 70_000}
SYNTHETIC_WEIGHTS = (1.0, 3.0, 10.0, 30.0)
TRAIN_LIMIT = 400  # photos: ~4 minutes on two cores, ~27,000 shapes on the fifteenth file's captures
MATCH_IOU = 0.5
REAL_TIE = 0.005  # real val box AP50; the paired bootstrap's 95 % interval on the 48 val captures is +-0.014


def _grouped(
    predictor: UniversalPredictor, image: np.ndarray
) -> tuple[list[RawInstance], np.ndarray, np.ndarray]:
    """``predictor.raw_instances`` of ``image``: its shapes before rescoring, with the working-resolution maps."""
    probs, interior, _features, coarse = predictor.dense_maps(image)
    return predictor.raw_instances(probs, interior, coarse, image_size=image.shape[:2])


def perturbed(photo: tuple[dict, np.ndarray, list], rng: np.random.Generator, zoom_out: float = 2.0) -> tuple:
    """``photo`` (info, image, COCO boxes) as ``BoxDataset`` shows it with ``zoom_out`` and ``camera`` 1: a zoom
    crop or zoom out, mirror, exposure and greyscale, then the camera's effects; the boxes follow."""
    info, image, gt = photo
    boxes = np.asarray(gt, np.float64).reshape(-1, 4).copy()
    boxes[:, 2:] += boxes[:, :2]
    image, boxes = augment_photo(rng, image, boxes, BoxDataset.GREYSCALE_P, BoxDataset.ZOOM_OUT_P, zoom_out)
    image = camera_effects(image, rng, BoxDataset.CAMERA_STRENGTH)
    return info, image, [[x0, y0, x1 - x0, y1 - y0] for x0, y0, x1, y1 in boxes.tolist()]


def photo_shapes(
    predictor: UniversalPredictor, photos: list[tuple[dict, np.ndarray, list]]
) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, len(FEATURES)), correct (N,)) of every shape on real photos labelled with boxes."""
    rows: list[np.ndarray] = []
    correct: list[bool] = []
    for _info, image, gt in photos:
        raw, probs, interior = _grouped(predictor, image)
        sx, sy = image.shape[1] / interior.shape[1], image.shape[0] / interior.shape[0]
        boxes = np.array([geometry.mask_bbox(r.mask) for r in raw], np.float64).reshape(-1, 4)
        boxes *= np.array([sx, sy, sx, sy])
        ious = geometry.box_iou_matrix(boxes, np.asarray(gt, np.float64).reshape(-1, 4))
        rows += [shape_features(r, probs, interior) for r in raw]
        correct += [bool(ious.shape[1]) and bool(ious[k].max() >= MATCH_IOU) for k in range(len(raw))]
    return np.array(rows).reshape(-1, len(FEATURES)), np.array(correct, bool)


def scene_shapes(
    predictor: UniversalPredictor, coco: dict[str, Any], samples: list[tuple[int, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """(features, correct) of every shape on synthetic scenes, matched by mask to the drawn packages."""
    index = coco_from_dict(coco)
    rows: list[np.ndarray] = []
    correct: list[bool] = []
    for image_id, image in samples:
        raw, probs, interior = _grouped(predictor, image)
        size = (interior.shape[1], interior.shape[0])
        drawn = [
            cv2.resize(index.annToMask(ann), size, interpolation=cv2.INTER_NEAREST).astype(bool)
            for ann in index.loadAnns(index.getAnnIds(imgIds=[image_id]))
        ]
        rows += [shape_features(r, probs, interior) for r in raw]
        correct += [max((geometry.mask_iou(r.mask, m) for m in drawn), default=0.0) >= MATCH_IOU for r in raw]
    return np.array(rows).reshape(-1, len(FEATURES)), np.array(correct, bool)


def _figures(maps: CachedMaps, rescorer: Rescorer | None) -> dict[str, float]:
    maps.predictor.rescorer = rescorer
    grouping = maps.predictor.grouping
    return {
        "real_box_ap50": float(box_figures(maps.real_boxes(grouping), threshold=0.0)["box_ap50"] or 0.0),
        "synthetic_mask_ap": round(maps.synthetic_ap(grouping), 4),
    }


def _choose(tried: list[dict[str, Any]], floor: float) -> dict[str, Any] | None:
    """The row of the rescorer to store (``tried[0]`` is the checkpoint without one), or None: among those that
    keep the synthetic ``floor`` and beat ``tried[0]`` on the real photos, the best real box AP50; one within
    ``REAL_TIE`` of it that keeps more synthetic mask AP wins the tie (a gap that small on 48 photos is noise)."""
    kept = [
        r
        for r in tried[1:]
        if r["synthetic_mask_ap"] >= floor and r["real_box_ap50"] > tried[0]["real_box_ap50"]
    ]
    if not kept:
        return None
    best = max(r["real_box_ap50"] for r in kept)
    return max(
        (r for r in kept if r["real_box_ap50"] >= best - REAL_TIE), key=lambda r: r["synthetic_mask_ap"]
    )


def rescore(
    checkpoint: str | Path,
    coco_path: str | Path,
    val_coco: str | Path,
    subset: str | None = "captures",
    images_dir: str | Path | None = None,
    val_images_dir: str | Path | None = None,
    source_map: str | Path | None = None,
    val_source_map: str | Path | None = None,
    limit: int = TRAIN_LIMIT,
    grouping: dict[str, Any] | None = None,
    input_size: int | None = None,
    flips: tuple[str, ...] | None = None,
    synthetic_floor: float | None = None,
    perturb: bool = False,
    tower_sizes: list[int] | None = None,
    log=lambda line: print(line, file=sys.stderr, flush=True),
) -> tuple[UniversalNet, dict[str, Any], dict[str, Any]]:
    """(model, new meta, report): the rescorer chosen on val (see the module docstring), or none."""
    model, meta = load_checkpoint(checkpoint)
    meta = {k: v for k, v in meta.items() if k not in ("score_calibration", "default_threshold", "rescorer")}
    meta["grouping"] = {**meta["grouping"], **(grouping or {})}
    unknown = sorted(set(grouping or {}) - {f.name for f in dataclasses.fields(GroupingParams)})
    if unknown:
        raise ValueError(f"unknown grouping fields {unknown}")
    if input_size is not None:
        if input_size < 32 or input_size % 32:
            raise ValueError(f"input size {input_size} must be a positive multiple of 32")
        meta["input_size"] = int(input_size)
    if flips is not None:
        meta["test_time_flips"] = list(flips)
    if tower_sizes is not None:
        if any(size < 32 or size % 32 for size in tower_sizes):
            raise ValueError(f"tower sizes {tower_sizes} must be positive multiples of 32")
        meta["tower_sizes"] = [int(size) for size in tower_sizes]
    # The predictor refuses unknown flips, and tower sizes without a tower, by name.
    predictor = UniversalPredictor(model, meta)
    photos = labelled_photos(coco_path, images_dir, subset, source_map)
    if len(photos) > limit:
        picked = np.random.default_rng(0).choice(len(photos), limit, replace=False)
        photos = [photos[k] for k in sorted(picked)]
    if perturb:
        photos = [perturbed(photo, np.random.default_rng(k)) for k, photo in enumerate(photos)]
    x_real, y_real = photo_shapes(predictor, photos)
    scenes = [
        scene_shapes(predictor, *synthetic_coco(SYNTHETIC_FIT["count"], SYNTHETIC_FIT["seed"])),
        scene_shapes(
            predictor, *synthetic_coco(NO_PACKAGE_FIT["count"], NO_PACKAGE_FIT["seed"], domain="no_package")
        ),
    ]
    x_syn, y_syn = np.concatenate([x for x, _ in scenes]), np.concatenate([y for _, y in scenes])
    log(json.dumps({"shapes": {"photos": len(y_real), "matched": int(y_real.sum()), "scenes": len(y_syn)}}))
    maps = CachedMaps(
        predictor,
        labelled_photos(val_coco, val_images_dir, subset, val_source_map),
        synthetic_coco(SYNTHETIC_GUARD["count"], SYNTHETIC_GUARD["seed"]),
    )
    own = _figures(maps, None)
    floor = (
        min(SYNTHETIC_FLOOR, own["synthetic_mask_ap"] - GUARD_TOLERANCE)
        if synthetic_floor is None
        else synthetic_floor
    )
    tried: list[dict[str, Any]] = [{"synthetic_weight": None, **own}]
    fitted: dict[float, Rescorer] = {}
    for weight in SYNTHETIC_WEIGHTS:
        fitted[weight] = fit_rescorer(
            np.concatenate([x_real, x_syn]),
            np.concatenate([y_real, y_syn]),
            np.concatenate([np.ones(len(y_real)), np.full(len(y_syn), weight)]),
        )
        tried.append({"synthetic_weight": weight, **_figures(maps, fitted[weight])})
        log(json.dumps(tried[-1]))
    chosen_row = _choose(tried, floor)
    chosen = fitted[chosen_row["synthetic_weight"]] if chosen_row is not None else None
    report = {
        "train": {
            "coco": str(coco_path),
            "subset": subset,
            "photos": len(photos),
            "shapes": len(y_real),
            "perturbed": perturb,
        },
        "synthetic_fit": {**SYNTHETIC_FIT, "no_package": NO_PACKAGE_FIT, "shapes": len(y_syn)},
        "validation": {
            "coco": str(val_coco),
            "synthetic_guard": SYNTHETIC_GUARD,
            "synthetic_floor": round(floor, 4),
        },
        "chosen": chosen_row,  # None: no rescorer beat the checkpoint's own scores within the guard
        "tried": tried,
    }
    if chosen is not None:
        meta = {**meta, "rescorer": chosen.to_meta(), "rescoring": report}
    return model, meta, report


def _sizes(text: str | None) -> list[int] | None:
    """``--tower-sizes``: None (the checkpoint's) for no value, [] for 'none', else the whole numbers in it."""
    if text is None:
        return None
    return [] if text.strip() == "none" else [int(part) for part in text.split(",")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Fit a checkpoint's shape rescorer on labelled training photos and synthetic scenes, "
        "chosen on val photos; run ml.universal.calibrate after it."
    )
    parser.add_argument("checkpoint")
    parser.add_argument("--coco", required=True, help="training photos labelled with boxes (COCO)")
    parser.add_argument("--images", help="their folder (default: beside --coco)")
    parser.add_argument("--val-coco", required=True, help="validation photos labelled with boxes (COCO)")
    parser.add_argument("--val-images", help="their folder (default: beside --val-coco)")
    parser.add_argument("--subset", default="captures", choices=("captures", "web", "all"))
    parser.add_argument("--limit", type=int, default=TRAIN_LIMIT, help="at most this many training photos")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="fit at this grouping field's value instead of the checkpoint's (GroupingParams; repeatable)",
    )
    parser.add_argument(
        "--input-size", type=int, metavar="PX", help="fit at this input size (default: the checkpoint's)"
    )
    parser.add_argument(
        "--flips",
        metavar="SET",
        help="fit with these test-time flips ('none', 'x', 'x,y,xy'; default: the checkpoint's)",
    )
    parser.add_argument(
        "--synthetic-floor",
        type=float,
        help="a fixed synthetic val mask AP floor instead of the guard's rule (as calibrate's, which runs next)",
    )
    parser.add_argument(
        "--perturb",
        action="store_true",
        help="fit on the training photos zoomed, mirrored and through camera effects, as training shows them",
    )
    parser.add_argument(
        "--tower-sizes",
        metavar="PX,PX",
        help="the centre tower also sees the image at these long sides, averaged ('none'; default: the checkpoint's)",
    )
    parser.add_argument("--out", required=True, help="where to write the checkpoint")
    args = parser.parse_args(argv)
    try:
        grouping = {field: float(value) for field, value in (item.split("=", 1) for item in args.set)}
    except ValueError:
        parser.error(f"--set takes FIELD=NUMBER, got {args.set}")
    flips = None if args.flips is None else parse_flips(args.flips)
    try:
        tower_sizes = _sizes(args.tower_sizes)
    except ValueError:
        parser.error(
            f"--tower-sizes takes whole numbers separated by commas, or 'none'; got {args.tower_sizes!r}"
        )
    try:
        model, meta, report = rescore(
            args.checkpoint,
            args.coco,
            args.val_coco,
            args.subset,
            args.images,
            args.val_images,
            limit=args.limit,
            grouping=grouping,
            input_size=args.input_size,
            flips=flips,
            synthetic_floor=args.synthetic_floor,
            perturb=args.perturb,
            tower_sizes=tower_sizes,
        )
    except ValueError as err:
        parser.error(str(err))
    save_checkpoint(args.out, model, meta)
    print(json.dumps(report))


if __name__ == "__main__":
    main()

"""Choosing the grouping's settings on a validation spec, and mask AP on it (used by ``train``).

python -m ml.universal.train --config CONFIG --retune CKPT   # re-tune a checkpoint's grouping
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ml.universal.engine import evaluate
from ml.universal.evaluate import (
    CocoMaskEvaluator,
    _read_images,
    coco_from_dict,
    samples_from_spec,
    synthetic_coco,
)
from ml.universal.grouping import GroupingParams
from ml.universal.model import UniversalNet
from ml.universal.predictor import UniversalPredictor

SEED_THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
TUNING_TOLERANCE = 0.002  # mask AP; see tune_grouping
GROWTH_LEVELS = (0.5, 0.4, 0.3, 0.2, 0.1)  # grouping.grow_down: interior levels a seed grows down


def validate(predictor: UniversalPredictor, spec: dict[str, Any]) -> dict[str, Any]:
    """Mask AP on the ``val`` spec: fresh synthetic scenes or a COCO file."""
    if "synthetic" in spec:
        syn = spec["synthetic"]
        data, samples = synthetic_coco(int(syn["count"]), int(syn.get("seed", 0)), syn.get("domain", "all"))
        return evaluate(predictor, samples, CocoMaskEvaluator(coco_from_dict(data)))
    data = json.loads(Path(spec["coco"]).read_text())
    coco = coco_from_dict(data)
    folder = Path(spec.get("images_dir") or Path(spec["coco"]).parent)
    return evaluate(predictor, _read_images(coco, folder), CocoMaskEvaluator(coco))


def tune_grouping(model: UniversalNet, meta: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """Pick the grouping's seed thresholds with the best mask AP on the ``val`` spec; returns its metrics.

    First one threshold for every category (``SEED_THRESHOLDS``), then each category's own in turn,
    the others held (a coordinate search: with ``split_seeds_by_class`` a category's threshold
    moves mostly its own AP). Seeds are split by category and grown down ``GROWTH_LEVELS``. The
    network runs once per image; only the grouping is repeated. Updates ``meta["grouping"]`` and
    ``meta["metrics"]`` in place. Tune on a validation set, never on the set you report.
    """
    predictor = UniversalPredictor(model, meta)
    coco, samples = samples_from_spec(spec)
    maps = [(image_id, predictor.dense_maps(image)) for image_id, image in samples]

    def score(grouping: GroupingParams) -> dict[str, Any]:
        evaluator = CocoMaskEvaluator(coco_from_dict(copy.deepcopy(coco)))
        for image_id, dense in maps:
            evaluator.update(image_id, predictor.from_maps(*dense, grouping=grouping).instances)
        return evaluator.summarize()

    start = GroupingParams(
        **{
            **meta["grouping"],
            "class_seed_thresholds": (),
            "split_seeds_by_class": True,
            "growth_levels": GROWTH_LEVELS,
        }
    )
    tried: dict[str, float] = {}
    best_params, best = start, None
    for threshold in SEED_THRESHOLDS:
        grouping = dataclasses.replace(start, seed_threshold=threshold)
        metrics = score(grouping)
        tried[str(threshold)] = metrics["mask_ap"]
        if best is None or metrics["mask_ap"] > best["mask_ap"]:
            best_params, best = grouping, metrics
    assert best is not None
    shared = best_params.seed_threshold
    per_class = [shared] * len(meta["categories"])
    for k, name in enumerate(meta["categories"]):
        results = {shared: best}
        for threshold in SEED_THRESHOLDS:
            if threshold != shared:
                grouping = dataclasses.replace(
                    best_params,
                    class_seed_thresholds=tuple(threshold if j == k else t for j, t in enumerate(per_class)),
                )
                results[threshold] = score(grouping)
                tried[f"{name}={threshold}"] = results[threshold]["mask_ap"]
        # Of the thresholds within TUNING_TOLERANCE of the best, the nearest to the shared one: on a
        # val set of a few hundred parcels, smaller differences are noise (measured in the model card).
        top = max(r["mask_ap"] for r in results.values())
        per_class[k] = min(
            (t for t, r in results.items() if r["mask_ap"] >= top - TUNING_TOLERANCE),
            key=lambda t: abs(t - shared),
        )
        best_params = dataclasses.replace(best_params, class_seed_thresholds=tuple(per_class))
        best = results[per_class[k]]
    meta["grouping"] = dataclasses.asdict(best_params)
    best["images"] = len(maps)
    meta["metrics"] = {"val": spec, **best, "seed_threshold_search": tried}
    return best


MAX_SEARCH_PASSES = 3  # coordinate_search: passes over every field until one changes nothing


def coordinate_search(
    start: GroupingParams,
    space: dict[str, tuple[float, ...]],
    consider: Callable[[GroupingParams], bool],
) -> GroupingParams:
    """Coordinate ascent from ``start``: each field of ``space`` in turn takes each of its values, the
    others held at the best setting so far; ``consider(grouping)`` scores a setting and says whether it is
    the new best. Passes repeat until one changes nothing (at most ``MAX_SEARCH_PASSES``); no setting is
    scored twice. The full grid of the centre fields would be 960 settings of 48 photos each, about eight
    hours here; a pass tries at most 21. Returns the best setting it reached."""
    seen = {start}
    consider(start)
    best = start  # the anchor: it moves to each setting that becomes the best
    for _ in range(MAX_SEARCH_PASSES):
        before = best
        for name, values in space.items():
            anchor = best
            for value in values:
                change: dict[str, Any] = {name: value}
                grouping = dataclasses.replace(anchor, **change)
                if grouping not in seen:
                    seen.add(grouping)
                    if consider(grouping):
                        best = grouping
        if best == before:
            break
    return best

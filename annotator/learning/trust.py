"""The trust gate (issue 28): per project and model version, pre-labels or suggestions, and the threshold.

A pre-label is worth showing only if checking and fixing it is faster than drawing the package.
``ml.active.effort.gate`` prices that from reviewed images; this module feeds it the project's own:
every accepted image that the version predicted, its prediction's shapes and scores against the
accepted set. Shapes are matched by **mask IoU** within a category (a shape of the wrong class is a
false pre-label: the annotator deletes it and draws the package), rasterised on the pair's joint box
only, so an image costs a few small masks however large it is.

Fewer than ``MIN_REVIEWED`` such images: the checkpoint's calibrated default threshold, as pre-labels
(a checkpoint without a calibration, ``prelabel_threshold == 0``, starts as suggestions). When no
threshold saves time the shapes become **suggestions**: they stay in the Prediction, the annotation
set gets none of them, and the annotator takes them one by one or all at once.

The gate is recomputed by a task after reviews (``annotations.signals.image_reviewed``; one waiting
refresh per project, ``trust_refresh``) and, by the same queued refresh, on every promotion, rollback or new base (``registry``); a project
admin can pin the mode, the threshold or both (``TrustGatePin``). The decision that applies is
``prelabel_policy``. A gate never computed is not learned inside the request that asks for it: the
answer is the checkpoint's default, not stored, and the refresh is queued.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from annotator.annotations.models import Annotation
from annotator.projects.models import ImageStatus, Project
from ml import geometry
from ml.active import effort

from .models import GateMode, ModelVersion, Prediction, TrustGate, TrustGatePin
from .trust_refresh import trust_gate_schedule_update

MIN_REVIEWED = effort.MIN_REVIEWED
GATE_IMAGES = 500  # the most recently accepted images the gate learns from: bounds its cost
CURVE_THRESHOLDS = [round(0.05 * i, 2) for i in range(20)]


@dataclass(frozen=True)
class PrelabelPolicy:
    """How a version's predictions are shown on a project's untouched images."""

    mode: str  # GateMode
    threshold: float | None  # None: no shape is worth showing
    pinned: bool

    def shown(self, instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The instances that go into the annotation set as pre-labels (none in suggestion mode)."""
        if self.mode != GateMode.PRELABEL or self.threshold is None:
            return []
        return [inst for inst in instances if inst["score"] >= self.threshold]


def version_in_use(project: Project) -> ModelVersion | None:
    """The project's active model, else the promoted base (without registering a new shipped file)."""
    return (
        project.active_model
        or ModelVersion.objects.filter(project__isnull=True, status=ModelVersion.Status.PROMOTED).first()
    )


# --------------------------------------------------------------------------- the reviewed images


def reviewed_outcomes(*, project: Project, version: ModelVersion) -> list[effort.ImageOutcome]:
    """One ``ImageOutcome`` per accepted image the version predicted (the newest ``GATE_IMAGES``)."""
    predictions = list(
        Prediction.objects.filter(
            model_version=version, image__project=project, image__status=ImageStatus.ACCEPTED
        )
        .order_by("-image__status_changed_at", "-id")
        .values("image_id", "instances")[:GATE_IMAGES]
    )
    accepted: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in Annotation.objects.filter(image_id__in=[p["image_id"] for p in predictions]).values(
        "image_id", "category_id", "shape", "bbox"
    ):
        accepted[row["image_id"]].append(
            {"category": row["category_id"], "shape": row["shape"], "bbox": row["bbox"]}
        )
    return [image_outcome(p["instances"], accepted[p["image_id"]]) for p in predictions]


def image_outcome(instances: list[dict[str, Any]], accepted: list[dict[str, Any]]) -> effort.ImageOutcome:
    """A prediction's instances ({category, shape, score}) matched against the accepted shapes."""
    scores = [float(inst["score"]) for inst in instances]
    return effort.outcome_from_ious(scores, shapes_iou(instances, accepted), len(accepted))


def shapes_iou(predicted: list[dict[str, Any]], accepted: list[dict[str, Any]]) -> np.ndarray:
    """Mask IoU of every predicted shape with every accepted one; 0 across categories."""
    out = np.zeros((len(predicted), len(accepted)))
    boxes = [a.get("bbox") or geometry.shape_bbox(a["shape"]) for a in accepted]
    for i, p in enumerate(predicted):
        if not p.get("shape"):
            continue
        pbox = geometry.shape_bbox(p["shape"])
        for j, a in enumerate(accepted):
            if a["category"] == p["category"]:
                out[i, j] = _pair_iou(p["shape"], pbox, a["shape"], boxes[j])
    return out


def _pair_iou(a: list, abox: list[float], b: list, bbox: list[float]) -> float:
    """Mask IoU of two shapes, rasterised on their joint box (0 when the boxes do not meet)."""
    x0, y0 = max(abox[0], bbox[0]), max(abox[1], bbox[1])
    x1, y1 = min(abox[0] + abox[2], bbox[0] + bbox[2]), min(abox[1] + abox[3], bbox[1] + bbox[3])
    if x1 <= x0 or y1 <= y0:
        return 0.0
    left, top = math.floor(min(abox[0], bbox[0])), math.floor(min(abox[1], bbox[1]))
    width = math.ceil(max(abox[0] + abox[2], bbox[0] + bbox[2])) - left
    height = math.ceil(max(abox[1] + abox[3], bbox[1] + bbox[3])) - top
    return geometry.mask_iou(
        geometry.shape_to_mask(_shifted(a, left, top), height, width),
        geometry.shape_to_mask(_shifted(b, left, top), height, width),
    )


def _shifted(shape: list, dx: float, dy: float) -> list:
    return [[[[x - dx, y - dy] for x, y in ring] for ring in polygon] for polygon in shape]


# --------------------------------------------------------------------------- the gate


def trust_gate_refresh(*, project: Project, version: ModelVersion) -> TrustGate:
    """Learn the gate of ``version`` on ``project`` from its reviewed images and store it."""
    outcomes = reviewed_outcomes(project=project, version=version)
    gate, _ = TrustGate.objects.update_or_create(
        project=project, model_version=version, defaults=_gate_fields(version, outcomes)
    )
    return gate


def trust_gate_provisional(*, project: Project, version: ModelVersion) -> TrustGate:
    """What the gate says until it is first learned: ``effort.gate`` on no reviews, unsaved (``computed_at`` None)."""
    fields = _gate_fields(version, [])
    if fields["mode"] == GateMode.PRELABEL:
        until = f"the model's calibrated default {fields['threshold']:.2f} applies"
    else:
        until = "the model has no calibrated scores, so its shapes are suggestions"
    fields["reason"] = f"being learned from the project's reviewed images; until then {until}"
    return TrustGate(project=project, model_version=version, **fields)


def _gate_fields(version: ModelVersion, outcomes: list[effort.ImageOutcome]) -> dict[str, Any]:
    default = float(version.prelabel_threshold)
    # A checkpoint without a score calibration stores threshold 0 (every shape): no default to trust.
    decision = effort.gate(outcomes, default, calibrated=default > 0)
    return {
        "mode": decision.mode,
        "threshold": decision.threshold if math.isfinite(decision.threshold) else None,
        "precision": _round(decision.precision),
        "recall": _round(decision.recall),
        "seconds_saved_per_image": _round(decision.seconds_saved_per_image, 2),
        "reviewed_images": decision.reviewed_images,
        "reason": decision.reason,
        "learned": decision.learned,
        "curve": gate_curve(outcomes),
    }


def gate_curve(outcomes: list[effort.ImageOutcome]) -> list[dict[str, float | None]]:
    """Precision, recall and seconds saved per image (as pre-labels, as suggestions) per threshold."""
    if not outcomes:
        return []
    model = effort.EffortModel()
    baseline = float(np.mean([effort.seconds_without(o, model) for o in outcomes]))
    rows = []
    for t in CURVE_THRESHOLDS:
        precision, recall = effort.precision_recall(outcomes, t)
        rows.append(
            {
                "threshold": t,
                "precision": _round(precision),
                "recall": _round(recall),
                "prelabel_seconds_saved": _round(
                    baseline - effort.mean_seconds(outcomes, t, "prelabel", model), 2
                ),
                "suggest_seconds_saved": _round(
                    baseline - effort.mean_seconds(outcomes, t, "suggest", model), 2
                ),
            }
        )
    return rows


def trust_gate_for(*, project: Project, version: ModelVersion) -> TrustGate:
    """The stored gate of ``version`` on ``project``; never computed: ``trust_gate_provisional``, and a refresh queued.

    The provisional gate is not stored: a stored row means "computed", so it could never hide the
    refresh's answer, and until that answer comes every caller gets the default afresh.
    """
    gate = TrustGate.objects.filter(project=project, model_version=version).first()
    if gate is not None:
        return gate
    if version == version_in_use(project):  # the version the refresh learns; another would wait in vain
        trust_gate_schedule_update(project=project)
    return trust_gate_provisional(project=project, version=version)


def prelabel_policy(
    *, project: Project, version: ModelVersion, gate: TrustGate | None = None
) -> PrelabelPolicy:
    """The gate's decision with the admin's pins applied: what the project's untouched images show.

    ``gate``: ``trust_gate_for``'s answer when the caller already has it.
    """
    gate = trust_gate_for(project=project, version=version) if gate is None else gate
    pin = TrustGatePin.objects.filter(project=project).first()
    mode, threshold = gate.mode, gate.threshold
    if pin is not None and pin.mode:
        mode = pin.mode
        if threshold is None and mode == GateMode.PRELABEL:  # the gate saw nothing worth showing
            threshold = float(version.prelabel_threshold)
    if pin is not None and pin.threshold is not None:
        threshold = pin.threshold
    pinned = pin is not None and (bool(pin.mode) or pin.threshold is not None)
    return PrelabelPolicy(mode=mode, threshold=threshold, pinned=pinned)


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)

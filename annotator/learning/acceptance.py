"""How much of a model version's pre-labelling survived review: the acceptance metric per version.

For every accepted image that was pre-labelled, the pre-label set (the latest ``pre_label``
revision) is compared with the accepted set (the latest ``accept`` revision):

* ``mean_iou``: instances matched one-to-one by category and mask IoU (greedy, best first);
  an image scores sum(IoU of matches) / max(#pre-labels, #final shapes), so missed and
  spurious shapes count as 0. Averaged over images.
* ``unchanged_share``: pre-labels that reached the accepted set untouched (same category,
  mask IoU >= ``UNCHANGED_IOU``) over all pre-labels.

The version that pre-labelled an image is the one whose Prediction for it is the latest one
created no later than the pre-label revision (predictions and pre-labels are written together).
Images whose prediction the trust gate showed as suggestions (``Prediction.shown_as``) have no
pre-labels to measure and are left out; a suggestion the annotator took arrives as a ``model``
shape with its score, so it still counts in the accepted set.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from annotator.annotations.models import Revision
from annotator.projects.models import ImageStatus, Project
from ml import geometry

from .models import GateMode, ModelVersion, Prediction

UNCHANGED_IOU = 0.99


def acceptance_by_version(*, project: Project) -> list[dict[str, Any]]:
    """One row per model version that pre-labelled accepted images, oldest version first."""
    # Only the columns used: an image row carries its feature vector, a prediction all its instances.
    images = {
        i.pk: i
        for i in project.images.filter(status=ImageStatus.ACCEPTED).only(
            "id", "project_id", "width", "height"
        )
    }
    if not images:
        return []
    pre_labels: dict[int, Revision] = {}
    finals: dict[int, Revision] = {}
    for rev in (
        Revision.objects.filter(
            image_id__in=images, action__in=[Revision.Action.PRE_LABEL, Revision.Action.ACCEPT]
        )
        .only("image_id", "action", "annotations", "created_at", "version")
        .order_by("version")
    ):
        (pre_labels if rev.action == Revision.Action.PRE_LABEL else finals)[rev.image_id] = rev
    predictions: dict[int, list[Prediction]] = defaultdict(list)
    for pred in (
        Prediction.objects.filter(image_id__in=pre_labels)
        .only("image_id", "model_version_id", "created_at", "shown_as")
        .order_by("created_at", "id")
    ):
        predictions[pred.image_id].append(pred)

    per_version: dict[int, dict[str, Any]] = {}
    for image_id, pre in pre_labels.items():
        final = finals.get(image_id)
        made_by = [p for p in predictions[image_id] if p.created_at <= pre.created_at and p.model_version_id]
        if final is None or not made_by or made_by[-1].shown_as == GateMode.SUGGEST:
            continue  # a prediction shown as suggestions wrote no pre-labels to measure
        version_id = made_by[-1].model_version_id
        image = images[image_id]
        iou, unchanged = compare_sets(
            pre.annotations, final.annotations, height=image.height, width=image.width
        )
        row = per_version.setdefault(
            version_id, {"images": 0, "iou_sum": 0.0, "pre_labels": 0, "unchanged": 0}
        )
        row["images"] += 1
        row["iou_sum"] += iou
        row["pre_labels"] += len(pre.annotations)
        row["unchanged"] += unchanged

    versions = {
        v.pk: v
        for v in ModelVersion.objects.filter(pk__in=per_version).only("id", "name", "status", "created_at")
    }
    rows = []
    for version_id, row in per_version.items():
        version = versions.get(version_id)
        rows.append(
            {
                "model_version": version_id,
                "name": version.name if version else f"#{version_id}",
                "status": version.status if version else None,
                "created_at": version.created_at if version else None,
                "images": row["images"],
                "pre_labels": row["pre_labels"],
                "mean_iou": round(row["iou_sum"] / row["images"], 4),
                "unchanged_share": round(row["unchanged"] / row["pre_labels"], 4)
                if row["pre_labels"]
                else None,
            }
        )
    return sorted(rows, key=lambda r: (r["created_at"] is None, r["created_at"] or 0, r["model_version"]))


def compare_sets(predicted: list[dict], final: list[dict], *, height: int, width: int) -> tuple[float, int]:
    """(image IoU score, number of predicted shapes accepted unchanged); see the module doc."""
    if not predicted and not final:
        return 1.0, 0
    if not predicted or not final:
        return 0.0, 0
    # On run-length encodings: full-size masks of a 12 MP photo cost seconds per image.
    ious = geometry.shape_iou_matrix(
        [a["shape"] for a in predicted], [b["shape"] for b in final], height, width
    )
    pairs = []
    for i, a in enumerate(predicted):
        for j, b in enumerate(final):
            if a["category"] == b["category"] and ious[i, j] > 0:
                pairs.append((float(ious[i, j]), i, j))
    used_p, used_f = set(), set()
    total, unchanged = 0.0, 0
    for iou, i, j in sorted(pairs, reverse=True):
        if i in used_p or j in used_f:
            continue
        used_p.add(i)
        used_f.add(j)
        total += iou
        unchanged += int(iou >= UNCHANGED_IOU)
    return float(np.clip(total / max(len(predicted), len(final)), 0.0, 1.0)), unchanged

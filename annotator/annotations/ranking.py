"""The queue's order: uncertainty first, then a diversity re-rank of the top (``uncertainty+diversity``).

The scores it ranks by (``Image.uncertainty``, ``features``, ``predicted_instances``) are written
by the learning loop's predictions; this module only reads them.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from django.db.models import Case, F, IntegerField, QuerySet, When

from annotator.projects.models import Image, ImageStatus, Project
from ml.active.ranking import diverse_order

DIVERSITY_POOL = 200  # re-rank only the top of the uncertainty order: cheap and enough for a batch
COVERED_LIMIT = 2000  # the most recently labelled images the diversity keeps away from
COVERED_STATUSES = (ImageStatus.IN_PROGRESS, ImageStatus.SUBMITTED, ImageStatus.ACCEPTED)


def rank_for_queue(*, images: QuerySet[Image], project: Project) -> QuerySet[Image]:
    """Most useful first: uncertainty, then (default strategy) a diversity re-rank of the top.

    The re-rank keeps away from what the project has labelled already, or has somebody labelling
    now (``COVERED_STATUSES``): the next frame of a capture that was just labelled comes last.
    Features are compared only within one encoder (``Image.features_model``): the most common one
    at the top of the pool, which after a promotion is the new model's as soon as the re-scoring
    has reached it. Images whose features are another model's follow, by uncertainty. Each gain is
    weighted by the instances that encoder's model found in the image (``diverse_order``'s
    ``content``): a label of a crowded frame teaches more than one of empty belt.
    """
    by_uncertainty = images.order_by(F("uncertainty").desc(nulls_last=True), "id")
    if project.queue_strategy != Project.QueueStrategy.UNCERTAINTY_DIVERSITY:
        return by_uncertainty
    pool = [
        row
        for row in by_uncertainty.values_list(
            "id", "uncertainty", "features", "features_model", "predicted_instances"
        )[:DIVERSITY_POOL]
        if row[1] is not None and row[2]
    ]
    if len(pool) < 2:
        return by_uncertainty
    encoder = Counter(row[3] for row in pool).most_common(1)[0][0]
    pool = [row for row in pool if row[3] == encoder]
    pool_ids = [row[0] for row in pool]
    covered = [
        f
        for f in project.images.filter(status__in=COVERED_STATUSES, features_model=encoder)
        .exclude(pk__in=pool_ids)
        .order_by("-status_changed_at")
        .values_list("features", flat=True)[:COVERED_LIMIT]
        if f and len(f) == len(pool[0][2])
    ]
    order = diverse_order(
        np.array([r[1] for r in pool]),
        np.array([r[2] for r in pool], dtype=np.float64),
        labelled=np.array(covered, dtype=np.float64) if covered else None,
        content=np.array([r[4] or 0 for r in pool], dtype=np.float64),
    )
    ids = [pool[i][0] for i in order]
    position = Case(
        *[When(id=pk, then=rank) for rank, pk in enumerate(ids)],
        default=len(ids),
        output_field=IntegerField(),
    )
    return images.annotate(_rank=position).order_by("_rank", F("uncertainty").desc(nulls_last=True), "id")

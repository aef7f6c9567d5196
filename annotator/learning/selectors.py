"""Reads for the learning loop: the ranked queue, the active model, the data to train on."""

from __future__ import annotations

import numpy as np
from django.db.models import Case, F, IntegerField, QuerySet, When

from annotator.projects.models import Image, Project
from ml.active.ranking import diverse_order

DIVERSITY_POOL = 200  # re-rank only the top of the uncertainty order: cheap and enough for a batch


def rank_for_queue(*, images: QuerySet[Image], project: Project) -> QuerySet[Image]:
    """Most useful first: uncertainty, then (default strategy) a diversity re-rank of the top."""
    by_uncertainty = images.order_by(F("uncertainty").desc(nulls_last=True), "id")
    if project.queue_strategy != Project.QueueStrategy.UNCERTAINTY_DIVERSITY:
        return by_uncertainty
    pool = [
        row for row in by_uncertainty.values_list("id", "uncertainty", "features")[:DIVERSITY_POOL]
        if row[1] is not None and row[2]
    ]
    if len(pool) < 2:
        return by_uncertainty
    order = diverse_order(np.array([r[1] for r in pool]), np.array([r[2] for r in pool], dtype=np.float64))
    ids = [pool[i][0] for i in order]
    position = Case(*[When(id=pk, then=rank) for rank, pk in enumerate(ids)], default=len(ids), output_field=IntegerField())
    return images.annotate(_rank=position).order_by("_rank", F("uncertainty").desc(nulls_last=True), "id")

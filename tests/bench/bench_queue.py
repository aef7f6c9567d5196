"""Benchmark: one "next" of the active-learning queue, with the diversity re-rank at full size.

A throw-away database (SQLite in a temp folder, or the server named by DATABASE_URL) gets a
project with ``--pool`` pre-labelled images and ``--labelled`` accepted ones, each with an
uncertainty and a 128-float feature vector like the universal model's. Then
``annotations.selectors.queue_candidates`` runs ``--calls`` times: it reads the top of the
uncertainty order (``DIVERSITY_POOL``) and the labelled images' features (``COVERED_LIMIT``)
from the database, orders them (``ml.active.ranking.diverse_order``: cold start, near-duplicate
groups, k-center greedy) and returns the first ids. The ranking alone is timed on the same rows.

    python -m tests.bench.bench_queue [--pool 2000] [--labelled 2000] [--calls 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

from tests.bench.bench_api import percentile
from tests.bench.bench_coco import _setup_django

FEATURE_DIM = 128


def _populate(pool: int, labelled: int) -> int:
    import numpy as np
    from django.core.management import call_command

    from annotator.projects.models import Image, ImageStatus
    from annotator.projects.services import project_create

    call_command("migrate", verbosity=0)
    project = project_create(name=f"bench queue {time.time():.0f}", user=None)
    rng = np.random.default_rng(0)
    scenes = rng.normal(0, 1, (max(1, (pool + labelled) // 4), FEATURE_DIM))  # captures of ~4 frames
    rows = []
    for i in range(pool + labelled):
        feature = scenes[i // 4] + rng.normal(0, 0.3, FEATURE_DIM)
        feature = (feature / np.linalg.norm(feature)).round(5).tolist()
        rows.append(
            Image(
                project=project,
                name=f"cam{i % 7}/frame_{i:06d}.png",
                file=f"bench/{i:08d}.png",
                file_ext="png",
                sha256=f"{i:064x}",
                width=1280,
                height=960,
                status=ImageStatus.PRE_LABELED if i < pool else ImageStatus.ACCEPTED,
                split="train",
                uncertainty=float(rng.uniform(0.2, 0.8)),
                features=feature,
                predicted_instances=int(rng.integers(0, 20)),
            )
        )
    Image.objects.bulk_create(rows, batch_size=2000)
    return project.id


def measure(pool: int, labelled: int, calls: int) -> dict:
    import numpy as np
    from django.utils import timezone

    from annotator.annotations.ranking import COVERED_LIMIT, DIVERSITY_POOL
    from annotator.annotations.selectors import queue_candidates
    from annotator.projects.models import Project
    from ml.active.ranking import diverse_order

    project = Project.objects.get(pk=_populate(pool, labelled))
    assert project.queue_strategy == Project.QueueStrategy.UNCERTAINTY_DIVERSITY
    queue_ms = []
    for _ in range(calls):
        start = time.perf_counter()
        ids = queue_candidates(project=project, now=timezone.now(), limit=10)
        queue_ms.append((time.perf_counter() - start) * 1000)
    assert len(ids) == 10, ids
    top = list(
        project.images.filter(status="pre_labeled")
        .order_by("-uncertainty", "id")
        .values_list("uncertainty", "features", "predicted_instances")[:DIVERSITY_POOL]
    )
    covered = list(
        project.images.filter(status="accepted").values_list("features", flat=True)[:COVERED_LIMIT]
    )
    uncertainty, features = np.array([r[0] for r in top]), np.array([r[1] for r in top])
    content = np.array([r[2] for r in top], dtype=np.float64)  # as the queue passes it
    rank_ms = []
    for _ in range(calls):
        start = time.perf_counter()
        diverse_order(uncertainty, features, labelled=np.array(covered), content=content)
        rank_ms.append((time.perf_counter() - start) * 1000)
    return {
        "benchmark": "queue_next",
        "pool_images": pool,
        "labelled_images": labelled,
        "ranked": len(top),
        "kept_away_from": len(covered),
        "calls": calls,
        "queue_candidates_ms_median": round(statistics.median(queue_ms), 1),
        "queue_candidates_ms_p95": round(percentile(queue_ms, 0.95), 1),
        "diverse_order_ms_median": round(statistics.median(rank_ms), 1),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pool", type=int, default=2000)
    parser.add_argument("--labelled", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as var_dir:
        _setup_django(var_dir)
        from django.db import connection

        result = {**measure(args.pool, args.labelled, args.calls), "database": connection.vendor}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()

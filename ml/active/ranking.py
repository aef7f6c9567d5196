"""Order a pool of images by usefulness: uncertainty mixed with diversity.

Pure uncertainty sampling picks near-duplicates (ten shots of the same pile). The ranking
here is a weighted k-center greedy: each next pick maximises

    uncertainty_i ** alpha * min_distance(features_i, already picked) ** (1 - alpha)

so an image is chosen when it is both uncertain and far (in feature space) from what is
already in the batch. ``alpha = 1`` is plain uncertainty order; ``alpha = 0`` is plain
k-center greedy (core-set).

While fewer than ``cold_start`` images are labelled, the model's uncertainty is not worth
following yet, and k-center greedy picks outliers. The first picks are the *typical* image of
each of the largest uncovered clusters instead (TypiClust, Hacohen et al. 2022, "Active
learning on a budget"): k-means over the pool and the labelled images into
``labelled + picks`` clusters, then, largest cluster first among those with no labelled
image, the image with the densest neighbourhood.

Near-duplicates (frames of one capture) are grouped by linking every image to its nearest
neighbour (:func:`near_duplicate_groups`). Once an image of a group is picked or labelled, the
rest of its group comes after every uncovered image. A distance threshold cannot do this: two
frames at the ends of one capture can be farther apart than two different captures, but each
frame's nearest neighbour is almost always its neighbouring frame, so the links chain a capture
together.
"""

from __future__ import annotations

import numpy as np

# Measured with ml.experiments.active.simulate --quick on the 2026-12-03 base (6 pools each; chosen on --seed 11,
# then run once on the reported --seed 7): mean val mask AP at 10 / 20 / 30 / 40 labels, alpha 0.5
# 0.316 / 0.320 / 0.336 / 0.340 (seed 11) and 0.316 / 0.348 / 0.368 / 0.375 (seed 7); alpha 0.2
# 0.331 / 0.337 / 0.344 / 0.347 and 0.352 / 0.367 / 0.371 / 0.378. At 0.5 the queue took 58-60 %
# night scenes (the pool has 30 %), which the compact model learns slowly; at 0.2, 32-36 %.
DEFAULT_ALPHA = 0.2
# The simulation's first round: uncertainty+diversity scored 0.02 mask AP under random picks on both
# independent and capture pools; typical picks of 10 matched random (docs/active_learning.md), and
# with them label_savings on capture pools went 0.28 -> 0.39 (seed 7, 6 pools).
DEFAULT_COLD_START = 10
TYPICALITY_NEIGHBOURS = 20  # TypiClust's K: typicality is 1 / mean distance to these in the cluster
KMEANS_ITERATIONS = 25
NEIGHBOUR_CHUNK = 512  # rows per block of the nearest-neighbour search
DEFAULT_DENSITY = 0.0
# Chosen on --seed 13's full run (8 pools; ml.experiments.active.simulate, each gain times ((predicted instances + 1) /
# the pool's largest) ** power): label_savings 0.04 at 0, 0.26 at 0.5, 0.26 at 1 (0.5 kept 1 more capture
# of 50). Without it k-center greedy favours sparse frames (round-2 picks: 6.5 instances, the pool 7.7).
# Then, at 0 -> 0.5: seed 11's full run 0.21 -> 0.27, seed 7's 0.0 -> 0.0, seed 7 --quick 0.42 -> 0.30.
DEFAULT_CONTENT_POWER = 0.5
COVERED_WEIGHT = (
    0.25  # an image whose near-duplicate group is covered counts as this much nearer to the picks
)


def diverse_order(
    uncertainty: np.ndarray,
    features: np.ndarray,
    *,
    alpha: float = DEFAULT_ALPHA,
    limit: int | None = None,
    labelled: np.ndarray | None = None,
    cold_start: int = DEFAULT_COLD_START,
    near_duplicates: bool = True,
    density: float = DEFAULT_DENSITY,
    content: np.ndarray | None = None,
    content_power: float = DEFAULT_CONTENT_POWER,
) -> list[int]:
    """Indices into the pool, best first. ``features`` is (N, D); rows are L2-normalised here.

    ``labelled`` (M, D) are the features of images already labelled: they count as picked
    before the first pick (core-set), so the order also stays away from what was labelled.
    While M < ``cold_start``, the first ``cold_start - M`` picks are typical ones
    (:func:`typical_order`); ``cold_start=0`` turns that off. With ``near_duplicates``, an
    image whose near-duplicate group (:func:`near_duplicate_groups` over the pool and the
    labelled images) holds a picked or labelled image comes after all the others. ``density``
    weighs each gain by the image's typicality in the pool to that power, so that the far
    outliers k-center greedy favours lose to images that stand for many others. ``content``
    (N,), e.g. the predicted instance count, weighs each gain by its share of the pool's largest
    to the power ``content_power``: how much there is to learn from one label.
    """
    n = len(uncertainty)
    if n == 0:
        return []
    limit = n if limit is None else min(limit, n)
    f = _unit_rows(features)
    centres = _unit_rows(labelled) if labelled is not None and len(labelled) else np.zeros((0, f.shape[1]))
    order = typical_order(f, min(limit, max(0, cold_start - len(centres))), labelled=centres)
    if len(order) == limit:
        return order
    u = np.asarray(uncertainty, dtype=np.float64)
    u = (u - u.min()) / (u.max() - u.min()) if u.max() > u.min() else np.ones(n)
    u = np.clip(u, 1e-3, None)
    weight = _typicality(f) ** density if density else np.ones(n)  # each image's own worth, before distance
    weight = weight / weight.max()
    if content is not None and content_power:
        c = np.asarray(content, dtype=np.float64) + 1.0  # + 1: an empty frame keeps a small gain
        weight = weight * (c / c.max()) ** content_power
    picked = np.zeros(n, dtype=bool)
    picked[order] = True
    if near_duplicates:
        groups = near_duplicate_groups(np.vstack([f, centres]))
        pool_groups = groups[:n]
        covered = np.isin(pool_groups, np.concatenate([groups[n:], pool_groups[order]]))
    else:
        pool_groups, covered = np.arange(n), np.zeros(n, dtype=bool)
    centres = np.vstack([centres, f[order]])
    if len(centres):
        min_dist = _min_unit_distances(f, centres)
    else:  # nothing to keep away from yet: start with the most uncertain image
        order.append(int(np.argmax(u)))
        picked[order[0]] = True
        covered |= pool_groups == pool_groups[order[0]]
        min_dist = np.linalg.norm(f - f[order[0]], axis=1)
    while len(order) < limit:
        d = min_dist / min_dist.max() if min_dist.max() > 0 else np.ones(n)
        d = np.clip(d, 1e-3, None) * np.where(covered, COVERED_WEIGHT, 1.0)
        gain = u**alpha * d ** (1 - alpha) * weight
        gain[picked] = -np.inf
        nxt = int(np.argmax(gain))
        order.append(nxt)
        picked[nxt] = True
        covered |= pool_groups == pool_groups[nxt]
        min_dist = np.minimum(min_dist, np.linalg.norm(f - f[nxt], axis=1))
    return order


def near_duplicate_groups(features: np.ndarray) -> np.ndarray:
    """Group id (N,) of each row: the connected parts of the graph that links each row to its
    nearest neighbour (rows L2-normalised). Frames of one capture chain together this way.

    Measured on the simulation's capture pools (5 pools of 30 captures, the base's features):
    88 % of the groups hold one capture, and 61 % of the captures are one group (the rest split
    in two or three). Linking also the rows within 1.1-1.5 x the nearest distance joins more
    captures whole but merges different ones, and the queue then covered fewer captures
    (27.4-27.8 of 30 after 40 picks, against 29.0)."""
    f = _unit_rows(features).astype(np.float32)  # float32 halves the cost of the (N, N) products
    n = len(f)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for start in range(0, n if n > 1 else 0, NEIGHBOUR_CHUNK):  # blocks: the app passes up to ~2,200 rows
        similarity = f[start : start + NEIGHBOUR_CHUNK] @ f.T
        similarity[np.arange(len(similarity)), np.arange(start, start + len(similarity))] = -np.inf
        for i, j in enumerate(np.argmax(similarity, axis=1).tolist(), start=start):
            parent[root(i)] = root(j)
    return np.array([root(i) for i in range(n)], dtype=np.int64)


def typical_order(
    features: np.ndarray, limit: int, *, labelled: np.ndarray | None = None, seed: int = 0
) -> list[int]:
    """``limit`` typical picks from the pool (TypiClust), one per cluster, largest uncovered first.

    Clusters are k-means over the pool and ``labelled`` with ``len(labelled) + limit``
    clusters (k-means++ seeding from ``seed``: the same pool gives the same order). A cluster
    that holds a labelled image is covered; once every cluster is, the rest are picked again.
    """
    if limit <= 0:
        return []
    f = _unit_rows(features)
    n = len(f)
    covered_rows = (
        _unit_rows(labelled) if labelled is not None and len(labelled) else np.zeros((0, f.shape[1]))
    )
    points = np.vstack([f, covered_rows])
    assign = kmeans(points, min(len(covered_rows) + limit, len(points)), seed=seed)
    pool_assign = assign[:n]
    covered = set(assign[n:].tolist())
    taken = np.zeros(n, dtype=bool)
    order: list[int] = []
    while len(order) < min(limit, n):
        free = set(pool_assign[~taken].tolist()) - covered  # uncovered clusters with images left
        if not free:  # every cluster covered: start over, still never the same image twice
            covered = set()
            continue
        cluster = max(free, key=lambda c: (int(np.sum(pool_assign == c)), -c))
        members = np.flatnonzero((pool_assign == cluster) & ~taken)
        pick = int(members[np.argmax(_typicality(f[members]))])
        order.append(pick)
        taken[pick] = True
        covered.add(cluster)
    return order


def kmeans(points: np.ndarray, k: int, *, seed: int = 0, iterations: int = KMEANS_ITERATIONS) -> np.ndarray:
    """Cluster index (N,) of each row: k-means++ seeding, then Lloyd's iterations."""
    rng = np.random.default_rng(seed)
    centres = points[[int(rng.integers(len(points)))]]
    for _ in range(1, k):
        d2 = np.min(_distances(points, centres), axis=1) ** 2
        pick = rng.choice(len(points), p=d2 / d2.sum()) if d2.sum() > 0 else int(rng.integers(len(points)))
        centres = np.vstack([centres, points[pick]])
    assign = np.argmin(_distances(points, centres), axis=1)
    for _ in range(iterations):
        centres = np.stack(
            [points[assign == j].mean(axis=0) if np.any(assign == j) else centres[j] for j in range(k)]
        )
        new = np.argmin(_distances(points, centres), axis=1)
        if np.array_equal(new, assign):
            break
        assign = new
    return assign


def _typicality(rows: np.ndarray) -> np.ndarray:
    """1 / mean distance to the ``TYPICALITY_NEIGHBOURS`` nearest other rows (unit rows)."""
    if len(rows) == 1:
        return np.ones(1)
    d = np.sort(_unit_distances(rows, rows), axis=1)[:, 1 : TYPICALITY_NEIGHBOURS + 1]
    return 1.0 / (d.mean(axis=1) + 1e-6)


def _unit_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) distances between unit rows, via dot products: the app passes up to 2,000 labelled
    images, and an (N, M, D) difference array would take hundreds of MB."""
    return np.sqrt(np.clip(2.0 - 2.0 * a @ b.T, 0.0, None))


def _min_unit_distances(rows: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Distance from each unit row to its nearest unit centre."""
    return _unit_distances(rows, centres).min(axis=1)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)


def _unit_rows(features: np.ndarray) -> np.ndarray:
    f = np.asarray(features, dtype=np.float64)
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)

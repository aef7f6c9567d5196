"""Active-learning ranking: the queue's uncertainty + diversity order, near-duplicate groups, cold start."""

from __future__ import annotations

import numpy as np

from ml.active import ranking
from ml.active.ranking import diverse_order, near_duplicate_groups, typical_order


def test_diverse_order_does_not_fill_a_batch_with_near_duplicates():
    rng = np.random.default_rng(0)
    pile = np.ones((6, 8)) + rng.normal(0, 0.01, (6, 8))  # six shots of the same pile, very uncertain
    others = rng.normal(0, 1, (10, 8))  # distinct scenes, less uncertain
    features = np.vstack([pile, others])
    uncertainty = np.concatenate([np.full(6, 0.9), np.linspace(0.5, 0.7, 10)])
    by_uncertainty = list(np.argsort(-uncertainty, kind="stable")[:5])
    diverse = diverse_order(uncertainty, features, alpha=0.5, limit=5, cold_start=0)
    assert sum(i < 6 for i in by_uncertainty) == 5
    assert sum(i < 6 for i in diverse) == 1
    assert diverse[0] in range(6)  # still starts with the most uncertain image
    cold = diverse_order(
        uncertainty, features, alpha=0.5, limit=5
    )  # typical picks first: one of the pile too
    assert sum(i < 6 for i in cold) == 1 and len(set(cold)) == 5
    assert len(set(diverse_order(uncertainty, features))) == 16  # a full order is a permutation


def test_diverse_order_with_alpha_one_is_uncertainty_order():
    rng = np.random.default_rng(1)
    uncertainty = rng.uniform(0, 1, 12)
    order = diverse_order(uncertainty, rng.normal(0, 1, (12, 4)), alpha=1.0, cold_start=0)
    assert order == list(np.argsort(-uncertainty, kind="stable"))


def test_diverse_order_keeps_away_from_what_is_already_labelled():
    rng = np.random.default_rng(2)
    seen = np.array([1.0, 0, 0, 0]) + rng.normal(0, 0.02, (8, 4))  # a kind of scene labelled already
    unseen = np.array([0, 1.0, 0, 0]) + rng.normal(0, 0.02, (8, 4))  # a kind nobody labelled yet
    features = np.vstack([seen, unseen])
    uncertainty = np.concatenate(
        [np.linspace(0.7, 0.8, 8), np.linspace(0.5, 0.7, 8)]
    )  # seen kind looks harder
    labelled = np.array([1.0, 0, 0, 0]) + rng.normal(0, 0.02, (5, 4))
    assert diverse_order(uncertainty, features, alpha=0.5, limit=1, cold_start=0)[0] < 8
    assert diverse_order(uncertainty, features, alpha=0.5, limit=1, labelled=labelled, cold_start=0)[0] >= 8
    assert (
        diverse_order(uncertainty, features, alpha=0.5, limit=1, labelled=labelled)[0] >= 8
    )  # cold start too


def _on_circle(angle: float, i: int, j: int, dim: int = 6) -> np.ndarray:
    row = np.zeros(dim)
    row[i], row[j] = np.cos(angle), np.sin(angle)
    return row


def test_frames_of_one_capture_chain_into_one_group_and_the_queue_takes_other_captures_first():
    # capture A: four frames, 0.14-0.16 from the next, so its two ends are 0.45 apart; captures B and
    # C: two frames each, 0.32-0.38 from every frame of A: nearer than A's ends are to each other
    capture_a = [_on_circle(angle, 0, 1) for angle in (0.0, 0.14, 0.29, 0.45)]
    middle = _on_circle(0.225, 0, 1)
    axes = np.eye(6)
    capture_b = [middle + 0.32 * axes[2], middle + 0.32 * (axes[2] + 0.15 * axes[4])]
    capture_c = [middle + 0.32 * axes[3], middle + 0.32 * (axes[3] + 0.15 * axes[5])]
    features = np.array(capture_a + capture_b + capture_c)
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    assert np.linalg.norm(unit[0] - unit[3]) > np.linalg.norm(
        unit[0] - unit[4]
    )  # no threshold separates them

    groups = near_duplicate_groups(features)
    assert len(set(groups[:4])) == 1 and len(set(groups[4:6])) == 1 and len(set(groups[6:])) == 1
    assert len(set(groups)) == 3
    uncertainty = np.array([0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    distance_only = diverse_order(uncertainty, features, limit=3, cold_start=0, near_duplicates=False)
    assert distance_only[:2] == [0, 3]  # the far end of the same capture
    order = diverse_order(uncertainty, features, limit=3, cold_start=0)
    assert order[0] == 0 and {int(groups[i]) for i in order} == set(groups.tolist())  # one frame per capture
    # a labelled frame covers its capture: the queue takes B and C first, though A's frame 0 is the
    # most uncertain and A's far end is as far from the labelled frame as B and C are
    later = diverse_order(uncertainty, features, labelled=capture_a[1:2], cold_start=0)
    assert {int(groups[i]) for i in later[:2]} == {int(groups[4]), int(groups[6])}
    assert (
        0
        in diverse_order(uncertainty, features, labelled=capture_a[1:2], cold_start=0, near_duplicates=False)[
            :2
        ]
    )
    assert sorted(later) == list(range(8))


def test_a_density_weight_prefers_an_image_that_stands_for_others_to_a_far_outlier():
    rng = np.random.default_rng(5)
    axes = np.eye(4)
    features = np.vstack(
        [axes[0] + rng.normal(0, 0.05, (10, 4)), axes[1] + rng.normal(0, 0.05, (10, 4)), -axes[:1]]
    )  # two kinds of scene, and one outlier opposite the first (row 20)
    uncertainty = np.concatenate([[0.9], np.full(20, 0.5)])
    plain = diverse_order(uncertainty, features, alpha=0.0, limit=2, cold_start=0, near_duplicates=False)
    weighted = diverse_order(
        uncertainty, features, alpha=0.0, limit=2, cold_start=0, near_duplicates=False, density=1.0
    )
    assert plain == [0, 20]  # k-center greedy: the farthest image is the outlier
    assert weighted[0] == 0 and 10 <= weighted[1] < 20  # typicality: the other kind of scene


def test_a_content_weight_prefers_the_frame_with_more_to_label():
    axes = np.eye(4)
    features = np.vstack([axes[0], axes[1], axes[2]])  # three distinct scenes, equally far apart
    uncertainty = np.array([0.9, 0.5, 0.5])
    content = np.array([5.0, 1.0, 9.0])  # predicted instances: scene 2 is the crowded one
    assert (
        diverse_order(uncertainty, features, cold_start=0, content=content, content_power=0.0)[1] == 1
    )  # off
    assert diverse_order(uncertainty, features, cold_start=0)[1] == 1  # no counts: no weight
    assert (
        diverse_order(uncertainty, features, cold_start=0, content=content)[1] == 2
    )  # DEFAULT_CONTENT_POWER
    assert diverse_order(uncertainty, features, cold_start=0, content=content, content_power=1.0)[1] == 2


def test_near_duplicate_groups_searched_in_blocks_match_the_direct_search(monkeypatch):
    rows = np.random.default_rng(4).normal(0, 1, (57, 5))
    whole = near_duplicate_groups(rows)
    monkeypatch.setattr(ranking, "NEIGHBOUR_CHUNK", 8)
    blocks = near_duplicate_groups(rows)
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    distances = np.linalg.norm(unit[:, None] - unit[None], axis=2) + np.diag(np.full(57, np.inf))
    nearest = np.argmin(distances, axis=1)
    for groups in (whole, blocks):
        assert all(groups[i] == groups[j] for i, j in enumerate(nearest))  # every row with its nearest
    # the same partition (ids may differ): rows share a group in one exactly when they do in the other
    assert np.array_equal(whole[:, None] == whole[None], blocks[:, None] == blocks[None])
    assert len(near_duplicate_groups(rows[:1])) == 1 and len(near_duplicate_groups(rows[:0])) == 0


def test_a_cold_start_picks_the_typical_image_of_each_cluster_largest_first_not_the_outlier():
    rng = np.random.default_rng(3)
    axes = np.eye(4)
    sizes = (7, 4, 2)
    clusters = [axes[k] + rng.normal(0, 0.05, (n, 4)) for k, n in enumerate(sizes)]
    outlier = np.array([[0, 0, 0.2, 1.0]])
    features = np.vstack([*clusters, outlier])
    uncertainty = np.concatenate([np.full(13, 0.2), [0.95]])  # the outlier looks hardest
    starts = np.cumsum((0, *sizes))
    centre_pick = [
        s + int(np.argmin(np.linalg.norm(c - c.mean(0), axis=1)))
        for s, c in zip(starts[:-1], clusters, strict=True)
    ]

    picks = typical_order(features, 3)
    assert [int(np.searchsorted(starts, i, side="right")) - 1 for i in picks] == [0, 1, 2]  # largest first
    assert picks[0] == centre_pick[0]  # the densest neighbourhood is the middle of the cluster
    assert 13 not in diverse_order(uncertainty, features, limit=3)  # uncertainty order would take it first
    assert diverse_order(uncertainty, features, limit=3, cold_start=0)[0] == 13
    # a cluster with a labelled image is covered: its images come after the uncovered clusters
    covered = typical_order(features, 2, labelled=axes[:1] + 0.01)
    assert all(i >= sizes[0] for i in covered)
    assert typical_order(features, 2, seed=0) == typical_order(features, 2, seed=0)
    assert sorted(typical_order(features, 14)) == list(range(14))  # more picks than clusters: each image once


def test_the_distance_to_what_is_labelled_matches_the_direct_computation_for_a_large_labelled_set():
    from ml.active.ranking import _min_unit_distances, _unit_rows

    rng = np.random.default_rng(4)
    rows, centres = _unit_rows(rng.normal(0, 1, (50, 16))), _unit_rows(rng.normal(0, 1, (300, 16)))
    direct = np.min(np.linalg.norm(rows[:, None, :] - centres[None, :, :], axis=2), axis=1)
    np.testing.assert_allclose(_min_unit_distances(rows, centres), direct, atol=1e-6)
    np.testing.assert_allclose(_min_unit_distances(centres[:5], centres), 0.0, atol=1e-6)

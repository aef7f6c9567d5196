"""The fleet proof (ml.experiments.fleet): how many labels a team needs to reach a mask AP."""

from __future__ import annotations

from ml.experiments.fleet.simulate import labels_to_reach


def test_labels_to_reach_interpolates_and_says_never():
    curve = [{"labels": 8, "mask_ap": 0.1}, {"labels": 16, "mask_ap": 0.3}, {"labels": 32, "mask_ap": 0.4}]
    assert labels_to_reach(curve, 0.05) == 8.0
    assert labels_to_reach(curve, 0.2) == 12.0
    assert labels_to_reach(curve, 0.5) is None

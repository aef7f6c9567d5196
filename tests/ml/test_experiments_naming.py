"""The pixel confusion of a class map (ml.experiments.universal.naming)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ml.experiments.universal.naming import main, pixel_confusion
from ml.synth.dataset import iter_scenes
from ml.synth.scene import CATEGORIES
from ml.universal.evaluate import DEFAULT_CHECKPOINT


def _oracle(scenes, rename=None):
    """Class probabilities that are one-hot on each instance's category (``rename``d where asked)."""
    by_image = {id(scene.image): scene for scene in scenes}
    rename = rename or {}

    def probabilities(image: np.ndarray) -> np.ndarray:
        scene = by_image[id(image)]
        out = np.zeros((len(CATEGORIES) + 1, *image.shape[:2]), np.float32)
        out[0] = 0.5
        for index, instance in enumerate(scene.instances):
            name = rename.get(instance.category, instance.category)
            out[CATEGORIES.index(name) + 1][scene.labels == index + 1] = 1.0
        return out

    return probabilities


def test_a_map_that_names_every_pixel_right_or_one_category_wrong():
    scenes = list(iter_scenes("all", 8, 11, (96, 96)))
    present = {instance.category for scene in scenes for instance in scene.instances}
    right = pixel_confusion(scenes, _oracle(scenes))
    assert set(right) == present
    assert all(right[name][name] == 1.0 for name in present)
    assert "envelope" in present
    wrong = pixel_confusion(scenes, _oracle(scenes, {"envelope": "padded_mailer"}))
    assert wrong["envelope"]["envelope"] == 0.0 and wrong["envelope"]["padded_mailer"] == 1.0
    assert wrong["cardboard_box"] == right["cardboard_box"]


def test_the_shipped_file_names_most_pixels_of_each_category_right(capsys):
    report = main([str(DEFAULT_CHECKPOINT), "--scenes", "8", "--seed", "5000"])
    assert json.loads(capsys.readouterr().out) == report
    for name, row in report["confusion"].items():
        assert sum(row.values()) == pytest.approx(1.0, abs=1e-3)
        assert row[name] > 0.5, (name, row)
    with pytest.raises(SystemExit) as exit_info:
        main([str(DEFAULT_CHECKPOINT), "--scenes", "0"])
    assert exit_info.value.code == 2 and "--scenes must be at least 1" in capsys.readouterr().err

"""Fixtures shared by the ml tests."""

from __future__ import annotations

import json

import pytest

from ml.synth import write_dataset
from tests.ml.real_like import boxes_only


@pytest.fixture(scope="module")
def box_set(tmp_path_factory):
    """Three synthetic scenes as a boxes-only COCO file with a source map calling them captures."""
    root = tmp_path_factory.mktemp("calib")
    data = json.loads(write_dataset(root, "pallet_stack", 3, seed=77, size=(160, 192)).read_text())
    boxes = boxes_only(data)
    (root / "val.json").write_text(json.dumps(boxes))
    rows = "".join(f"{img['file_name']},video IMG_9_mp4,True\n" for img in data["images"])
    (root / "source_map.csv").write_text("file_name,series,kept\n" + rows)
    return root

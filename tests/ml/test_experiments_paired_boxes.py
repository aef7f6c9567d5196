"""The paired box-AP50 bootstrap between two checkpoints (ml.experiments.universal.paired_boxes)."""

from __future__ import annotations

import json

import pytest
import torch

from ml.experiments.universal.paired_boxes import main, paired_box_ap50
from ml.universal.evaluate import DEFAULT_CHECKPOINT


def _main(coco, *extra: str) -> None:
    main([str(DEFAULT_CHECKPOINT), str(DEFAULT_CHECKPOINT), "--coco", str(coco), *extra])


def test_a_checkpoint_against_itself_is_never_ahead_or_behind(box_set, capsys):
    torch.set_num_threads(1)
    report = paired_box_ap50(DEFAULT_CHECKPOINT, DEFAULT_CHECKPOINT, box_set / "val.json", draws=50)
    assert report["images"] == 3 and report["draws"] == 50
    assert report["a"]["box_ap50"] == report["b"]["box_ap50"]
    assert report["a_minus_b"] == 0.0 and report["interval95"] == [0.0, 0.0] and report["a_at_least_b"] == 1.0
    with pytest.raises(SystemExit) as exit_info:
        _main(box_set / "val.json", "--draws", "0")
    assert exit_info.value.code == 2 and "draws must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _main(box_set / "none.json")
    assert "none.json" in capsys.readouterr().err


def test_the_report_is_one_json_line(box_set, capsys):
    torch.set_num_threads(1)
    _main(box_set / "val.json", "--draws", "5")
    assert json.loads(capsys.readouterr().out)["draws"] == 5

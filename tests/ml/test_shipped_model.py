"""The shipped base checkpoint agrees with its model card (issue 3's acceptance)."""

from __future__ import annotations

import json
import re

import pytest

from ml.universal.evaluate import DEFAULT_CHECKPOINT, evaluate_synthetic

CARD = DEFAULT_CHECKPOINT.parent / "MODEL_CARD.md"


def card_metrics() -> dict:
    """The JSON line under the card's "## Metrics" heading: what the card claims for the shipped file."""
    section = CARD.read_text().split("\n## Metrics", 1)[1]
    line = re.search(r"^\{\"mask_ap\".*\}$", section, re.MULTILINE)
    assert line, f"{CARD} has no evaluate --json line under ## Metrics"
    return json.loads(line.group(0))


@pytest.mark.slow
def test_the_shipped_checkpoint_reproduces_its_model_card():
    claimed = card_metrics()
    assert claimed["images"] == 200
    assert DEFAULT_CHECKPOINT.stat().st_size <= 25 * 1024 * 1024
    measured = evaluate_synthetic(
        DEFAULT_CHECKPOINT, 200, 1234
    )  # the card's command: --synthetic 200 --seed 1234
    assert measured["mask_ap"] == pytest.approx(claimed["mask_ap"], abs=0.02)
    assert measured["mask_ap50"] == pytest.approx(claimed["mask_ap50"], abs=0.02)

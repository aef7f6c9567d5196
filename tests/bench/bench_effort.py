"""Annotator seconds per image with and without pre-labels (the effort model; prints figures, not a test).

    python -m tests.bench.bench_effort [--checkpoint CKPT] [--scenes 40]

Replays ``ml.active.effort_replay``'s five cases on fresh synthetic scenes (seed 1234) and, when
the real set of ``../shared/tools/build_public_boxes.py`` is on disk (``$PUBLIC_BOXES_DIR``,
default ``/work/data/public_boxes``), on its val captures. A missing real set is reported as
skipped, not as a failure.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ml.active.effort import EffortModel
from ml.active.effort_replay import coco_samples, outcomes_from_predictor, replay, synthetic_samples
from ml.universal.evaluate import DEFAULT_CHECKPOINT
from ml.universal.predictor import UniversalPredictor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--scenes", type=int, default=40)
    args = parser.parse_args()
    predictor = UniversalPredictor.from_checkpoint(args.checkpoint)
    calibrated = predictor.meta.get("score_calibration") is not None
    sets = {"synthetic": synthetic_samples(args.scenes, 1234)}
    real = Path(os.environ.get("PUBLIC_BOXES_DIR", "/work/data/public_boxes")) / "val.json"
    report: dict[str, object] = {}
    if real.is_file():
        sets["real_val_captures"] = coco_samples(str(real), "captures")
    else:
        report["real_val_captures"] = f"skipped: {real} not found (build it with build_public_boxes.py)"
    for name, samples in sets.items():
        outcomes = outcomes_from_predictor(predictor, samples)
        result = replay(outcomes, predictor.default_threshold, EffortModel(), calibrated=calibrated)
        report[name] = {case: round(row["ratio_to_none"], 3) for case, row in result["cases"].items()} | {
            "none_seconds_per_image": round(result["cases"]["none"]["seconds_per_image"], 1)
        }
    print(json.dumps({"effort_ratio_to_no_prelabels": report}, indent=2))


if __name__ == "__main__":
    main()

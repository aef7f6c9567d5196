"""The universal base's knobs: ``settings.ANNOTATOR["UNIVERSAL_<NAME>"]``, else env ``ANNOTATOR_UNIVERSAL_<NAME>``.

Read at call time (never at import), so a worker started with a different environment, or a
test's ``settings`` override, sees its own values.
"""

from __future__ import annotations

import os

from django.conf import settings

DEFAULTS: dict[str, float] = {
    "GATE_TOLERANCE": 0.02,  # absolute mask AP a project may lose before it blocks a promotion
    "NEW_IMAGES_THRESHOLD": 100,  # contributed accepted images since the last base run that trigger one
    "SYNTHETIC_TRAIN_SCENES": 200,  # synthetic scenes mixed into every base run
    "SYNTHETIC_VAL_SCENES": 50,  # the synthetic held-out set of the gate (fixed seed)
    "SCENE_SIZE": 256,  # px, square
    "BUDGET_SECONDS": 1800,  # wall-clock cap of a base run's training
    "EPOCHS": 0,  # 0 = train until the budget is spent
    "LR": 2e-3,
    "SCHEDULE_SECONDS": 6 * 60 * 60,  # how often the beat task checks for enough new data
}


def universal_setting(name: str) -> float:
    key = f"UNIVERSAL_{name}"
    configured = getattr(settings, "ANNOTATOR", {}).get(key)
    if configured is not None:
        return float(configured)
    raw = os.environ.get(f"ANNOTATOR_{key}")
    return float(raw) if raw not in (None, "") else float(DEFAULTS[name])

"""Rules about the code's shape that no linter states: file length, and tasks queued by name."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

ANNOTATOR = Path(__file__).resolve().parents[2] / "annotator"
MAX_LINES = 400
REASON = "# longer than 400 lines:"  # the first line of a file allowed to be longer, then why


def _sources() -> list[Path]:
    return sorted(p for p in ANNOTATOR.rglob("*.py") if "migrations" not in p.parts)


def test_no_file_is_longer_than_400_lines_without_a_reason_at_its_top():
    too_long = []
    for path in _sources():
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > MAX_LINES and not (lines[0].startswith(REASON) and lines[0][len(REASON) :].strip()):
            too_long.append(f"{path.relative_to(ANNOTATOR.parent)}: {len(lines)} lines")
    assert not too_long, f"split these along their seam, or start them with '{REASON} <why>':\n" + "\n".join(
        too_long
    )


def test_every_task_queued_or_routed_by_name_exists():
    """``enqueue`` and ``CELERY_TASK_ROUTES`` name tasks by string: a typo would be lost silently."""
    from annotator.celery import app

    app.loader.import_default_modules()  # the tasks modules of every installed app (autodiscovery)
    named = set(settings.CELERY_TASK_ROUTES)
    for path in _sources():
        named |= set(re.findall(r'"(annotator\.\w+\.tasks\.\w+)"', path.read_text(encoding="utf-8")))
    missing = sorted(name for name in named if name not in app.tasks)
    assert not missing, f"no Celery task has these names: {missing}"
    assert len(named) >= 9  # the routes and the services' names were both found

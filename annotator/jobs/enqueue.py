"""Queueing a Celery task by its name, once the current transaction commits.

Services never import a ``tasks`` module: they name the task by its dotted path, so no
``services <-> tasks`` import cycle forms, and the queue comes from ``CELERY_TASK_ROUTES``
in settings, the one routing table (``inference``, ``training``, ``default``).
"""

from __future__ import annotations

from django.db import transaction

from annotator.celery import app


def enqueue(task: str, *args: object) -> None:
    """Send ``task`` (e.g. ``"annotator.learning.tasks.train_model"``) with ``args`` after the commit.

    Outside a transaction it is sent at once; if the transaction rolls back it is never sent, so a
    worker never looks for a row that does not exist.
    """
    transaction.on_commit(lambda: app.send_task(task, args=args))

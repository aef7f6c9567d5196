"""Queueing a Celery task by its name, once the current transaction commits.

Services never import a ``tasks`` module: they name the task by its dotted path, so no
``services <-> tasks`` import cycle forms, and the queue comes from ``CELERY_TASK_ROUTES``
in settings, the one routing table (``inference``, ``training``, ``default``).
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction

from annotator.celery import app


def enqueue(task: str, *args: object, on_failure: Callable[[], object] | None = None) -> None:
    """Send ``task`` (e.g. ``"annotator.learning.tasks.train_model"``) with ``args`` after the commit.

    Outside a transaction it is sent at once; if the transaction rolls back it is never sent, so a
    worker never looks for a row that does not exist. If the broker refuses the message, ``on_failure``
    runs (to undo a mark that says the task is on its way) and the error goes on to the caller.
    """

    def send() -> None:
        try:
            app.send_task(task, args=args)
        except Exception:
            if on_failure is not None:
                on_failure()
            raise

    transaction.on_commit(send)

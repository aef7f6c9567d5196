"""Queueing a Celery task by its name, once the current transaction commits.

Services never import a ``tasks`` module: they name the task by its dotted path, so no
``services <-> tasks`` import cycle forms, and the queue comes from ``CELERY_TASK_ROUTES``
in settings, the one routing table (``inference``, ``training``, ``default``).

The message goes out after the commit, so a broker that refuses it (down, unreachable, full
disk) can no longer undo the request's rows: a review, an upload or a pin is saved. Raising
then would answer a 500 for work that was kept, and leave the job that waits for the task
pending forever (a pending training run even blocks the next one). So a refused send is logged,
the job it was for fails with a message that says why, and ``on_failure`` undoes any other
mark that says the task is on its way; the request answers as it would have.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction

from annotator.celery import app

from .models import Job
from .services import job_fail_if_pending

log = logging.getLogger(__name__)

NOT_QUEUED = (
    "Not started: the task queue refused it ({error}). Nothing ran; start it again once the queue is back."
)


def enqueue(
    task: str, *args: object, job: Job | None = None, on_failure: Callable[[], object] | None = None
) -> None:
    """Send ``task`` (e.g. ``"annotator.learning.tasks.train_model"``) with ``args`` after the commit.

    Outside a transaction it is sent at once; if the transaction rolls back it is never sent, so a
    worker never looks for a row that does not exist. If the broker refuses the message (module
    doc), the error is logged, ``job`` (the job row the task would run) fails if it is still
    pending, and ``on_failure`` runs.
    """

    def send() -> None:
        try:
            app.send_task(task, args=args)
        except Exception as error:  # any transport's refusal: the rows are committed whatever it is
            log.error("the broker refused %s%r: %s", task, args, error, exc_info=True)
            if job is not None:
                reason = str(error)[:300] or type(error).__name__
                job_fail_if_pending(job=job, message=NOT_QUEUED.format(error=reason))
            if on_failure is not None:
                on_failure()

    transaction.on_commit(send)

"""Celery tasks of the fleet loop: thin, idempotent wrappers around the base-run services.

Base runs and base evaluations go to the ``training`` queue (``CELERY_TASK_ROUTES`` in settings).
"""

from __future__ import annotations

from celery import shared_task

from annotator.learning.models import ModelVersion
from annotator.learning.runs import run_start

from .training import base_evaluate_for_projects, base_retrain_check, base_run_execute


@shared_task(acks_late=True)
def train_base_model(run_id: int) -> None:
    """Run one base run; a duplicate message does nothing, a redelivered one takes over a run whose worker died."""
    run = run_start(run_id=run_id)
    if run is not None:
        base_run_execute(run=run)


@shared_task(acks_late=True)
def check_base_retraining() -> int | None:
    """Periodic (django-celery-beat): a base run when enough contributed images arrived since the last."""
    run = base_retrain_check()
    return run.pk if run else None


@shared_task(acks_late=True)
def evaluate_base_for_projects(version_id: int) -> int:
    """After a promotion: the new base's figures on every project's val split the gate did not score."""
    version = ModelVersion.objects.filter(pk=version_id, project__isnull=True).first()
    return len(base_evaluate_for_projects(version=version)) if version else 0

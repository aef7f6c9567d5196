"""Celery tasks of the learning loop: thin, idempotent wrappers around services."""

from __future__ import annotations

from celery import shared_task

from annotator.jobs.batches import TRANSIENT, batch_image_step
from annotator.projects.models import Project

from . import services
from .prelabels import project_prelabels_reapply, trust_gate_queued_update
from .runs import run_start
from .training import retraining_check, training_run_execute


@shared_task(bind=True, acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def pre_label_image(self, image_id: int, batch_job_id: int | None = None) -> None:
    batch_image_step(
        image_id=image_id, batch_job_id=batch_job_id, work=services.image_predict, what="pre-label"
    )


@shared_task(bind=True, acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def refresh_features(self, image_id: int, batch_job_id: int | None = None) -> None:
    batch_image_step(
        image_id=image_id,
        batch_job_id=batch_job_id,
        work=services.image_refresh_features,
        what="feature refresh",
    )


@shared_task(acks_late=True)
def train_model(run_id: int) -> None:
    """Run one TrainingRun; a duplicate message does nothing, a redelivered one takes over a run whose worker died."""
    run = run_start(run_id=run_id)
    if run is not None:
        training_run_execute(run=run)


@shared_task(acks_late=True)
def check_retraining() -> list[int]:
    """Periodic (django-celery-beat): start runs where enough images were accepted since the last one."""
    return [run.pk for run in retraining_check()]


@shared_task(acks_late=True)
def refresh_trust_gate(project_id: int) -> None:
    """After reviews (one waiting per project): the trust gate re-learns; untouched images follow if it flipped.

    Safe twice: a redelivered message learns the same gate again, and clearing the flag early can
    only let one more refresh be queued, never leave a review out.
    """
    project = Project.objects.filter(pk=project_id).first()
    if project is not None:
        trust_gate_queued_update(project=project)


@shared_task(acks_late=True)
def reapply_prelabels(project_id: int) -> int:
    """After a pin: untouched pending images show their stored predictions as the policy now says. Safe twice."""
    project = Project.objects.filter(pk=project_id).first()
    return 0 if project is None else project_prelabels_reapply(project=project)

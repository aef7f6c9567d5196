"""Periodic housekeeping: fail jobs whose worker died so nothing stays 'running' forever."""

from celery import shared_task

from .services import jobs_reap_stale, reapable_job_models
from .signals import stale_jobs_reaped


@shared_task(acks_late=True)
def reap_stale_jobs() -> int:
    """Fail stale jobs of every kind (returns how many); apps that own those jobs clean up after them."""
    reaped = jobs_reap_stale(models_to_reap=reapable_job_models())
    stale_jobs_reaped.send(sender=reap_stale_jobs, reaped=reaped)
    return reaped

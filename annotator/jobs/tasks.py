"""Periodic housekeeping: fail jobs whose worker died so nothing stays 'running' forever."""

from celery import shared_task


@shared_task(acks_late=True)
def reap_stale_jobs() -> int:
    from annotator.datasets.models import ExportJob, ImportJob
    from annotator.jobs.models import BatchJob
    from annotator.learning.models import TrainingRun

    from .services import jobs_reap_stale

    return jobs_reap_stale(models_to_reap=[TrainingRun, ExportJob, ImportJob, BatchJob])

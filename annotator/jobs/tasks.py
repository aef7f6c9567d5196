"""Periodic housekeeping: fail jobs whose worker died so nothing stays 'running' forever."""

from celery import shared_task


@shared_task(acks_late=True)
def reap_stale_jobs() -> int:
    """Fail stale jobs (returns how many) and the model versions their training runs left 'training'."""
    from annotator.datasets.models import ExportJob, ImportJob
    from annotator.jobs.models import BatchJob
    from annotator.learning.models import TrainingRun
    from annotator.learning.runs import run_versions_fail_stopped

    from .services import jobs_reap_stale

    reaped = jobs_reap_stale(models_to_reap=[TrainingRun, ExportJob, ImportJob, BatchJob])
    run_versions_fail_stopped()
    return reaped

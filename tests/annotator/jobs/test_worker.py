"""A real Celery worker process runs tasks end to end against the test database."""

from datetime import timedelta

import pytest
from django.utils import timezone

from annotator.jobs.models import BatchJob, JobStatus
from annotator.jobs.tasks import reap_stale_jobs
from tests.conftest import wait_for


@pytest.mark.django_db(transaction=True)
def test_worker_runs_the_reaper_end_to_end(celery_worker, project):
    long_ago = timezone.now() - timedelta(days=1)
    stale = BatchJob.objects.create(project=project, kind=BatchJob.Kind.EMBEDDING, status=JobStatus.RUNNING,
                                    heartbeat_at=long_ago, total=3)
    fresh = BatchJob.objects.create(project=project, kind=BatchJob.Kind.EMBEDDING, status=JobStatus.RUNNING,
                                    heartbeat_at=timezone.now(), total=3)

    reap_stale_jobs.delay()

    def reaped():
        stale.refresh_from_db()
        return stale.status == JobStatus.FAILED

    wait_for(reaped, timeout=60, what=f"the worker to reap job {stale.pk}\n{celery_worker.log()[-2000:]}")
    fresh.refresh_from_db()
    assert fresh.status == JobStatus.RUNNING
    assert "reaper" in stale.message
    assert "reap_stale_jobs" in celery_worker.log()

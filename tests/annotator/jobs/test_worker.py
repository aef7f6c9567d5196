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
    stale = BatchJob.objects.create(
        project=project,
        kind=BatchJob.Kind.EMBEDDING,
        status=JobStatus.RUNNING,
        heartbeat_at=long_ago,
        total=3,
    )
    fresh = BatchJob.objects.create(
        project=project,
        kind=BatchJob.Kind.EMBEDDING,
        status=JobStatus.RUNNING,
        heartbeat_at=timezone.now(),
        total=3,
    )

    reap_stale_jobs.delay()

    def reaped():
        stale.refresh_from_db()
        return stale.status == JobStatus.FAILED

    wait_for(reaped, timeout=60, what=f"the worker to reap job {stale.pk}\n{celery_worker.log()[-2000:]}")
    fresh.refresh_from_db()
    assert fresh.status == JobStatus.RUNNING
    assert "reaper" in stale.message
    assert "reap_stale_jobs" in celery_worker.log()


@pytest.mark.django_db
def test_a_redelivered_task_takes_over_a_silent_job_before_the_reaper_would_fail_it(project, settings):
    """Production defaults: takeover (15 min) < Redis redelivery (1 h) < reaper (2 h)."""
    from annotator.jobs.services import job_start, takeover_seconds

    assert takeover_seconds() == 15 * 60 < 3600 < settings.ANNOTATOR["STALE_JOB_SECONDS"]
    if settings.CELERY_BROKER_URL.startswith("redis"):
        assert (
            settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
            < settings.ANNOTATOR["STALE_JOB_SECONDS"]
        )
    now = timezone.now()
    # What Redis redelivers after its visibility timeout: the job of a worker killed an hour ago.
    killed = BatchJob.objects.create(
        project=project,
        kind=BatchJob.Kind.EMBEDDING,
        status=JobStatus.RUNNING,
        heartbeat_at=now - timedelta(hours=1),
        attempts=1,
    )
    busy = BatchJob.objects.create(
        project=project,
        kind=BatchJob.Kind.EMBEDDING,
        status=JobStatus.RUNNING,
        heartbeat_at=now - timedelta(minutes=2),
        attempts=1,
    )
    taken = job_start(model=BatchJob, job_id=killed.pk)
    assert taken is not None and taken.attempts == 2 and taken.heartbeat_at > now
    assert job_start(model=BatchJob, job_id=busy.pk) is None  # a live worker still holds it
    assert reap_stale_jobs() == 0  # nothing is stale: the killed job is running again

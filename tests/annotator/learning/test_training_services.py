"""The training trigger, the per-project lock and the periodic check, through the public services."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from annotator.errors import ApplicationError, ConflictError
from annotator.jobs.models import JobStatus
from annotator.jobs.schedule import periodic_task_ensure
from annotator.learning.models import TrainingRun
from annotator.learning.selectors import accepted_since_last_run
from annotator.learning.training import retraining_check, training_run_cancel, training_run_request
from tests.annotator.learning.conftest import accept, add_images


@pytest.mark.django_db
def test_a_run_needs_accepted_training_images(project, base_checkpoint):
    add_images(project, 21)
    with pytest.raises(
        ApplicationError, match="at least 1 accepted images in the train split; this project has 0"
    ):
        training_run_request(project=project)


@pytest.mark.django_db
def test_one_run_per_project_and_a_new_one_after_it_finished(project, users, base_checkpoint):
    images = add_images(project, 22)
    accept(images[-1], users)
    accept(images[0], users)  # and one of the val split
    first = training_run_request(project=project, user=users["admin"])
    assert first.status == JobStatus.PENDING and first.base_version is not None
    with pytest.raises(ConflictError) as caught:
        training_run_request(project=project)
    assert caught.value.extra["training_run"] == first.pk
    training_run_cancel(run=first)  # pending: cancelled at once, which releases the lock
    first.refresh_from_db()
    assert first.status == JobStatus.CANCELLED
    second = training_run_request(project=project)
    assert second.pk != first.pk
    assert TrainingRun.objects.filter(project=project, status=JobStatus.PENDING).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_triggers_start_one_run(project, users, base_checkpoint):
    images = add_images(project, 22)
    accept(images[-1], users)
    accept(images[0], users)  # and one of the val split
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def trigger() -> None:
        barrier.wait()
        try:
            training_run_request(project=project, trigger="manual")
            outcomes.append("started")
        except ConflictError:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=trigger) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "started"]
    assert TrainingRun.objects.filter(project=project).count() == 1


@pytest.mark.django_db
def test_periodic_check_starts_a_run_only_after_threshold_acceptances(project, users, base_checkpoint):
    project.retrain_threshold = 3
    project.save()
    images = add_images(project, 26)
    for image in (images[0], images[20]):  # one of the val split, one of the train split
        accept(image, users)
    assert accepted_since_last_run(project=project) == 2
    assert retraining_check() == []
    accept(images[22], users)
    started = retraining_check()
    assert [run.trigger for run in started] == ["schedule"]
    assert accepted_since_last_run(project=project) == 0
    assert retraining_check() == []  # neither a second run nor a run per check
    training_run_cancel(run=started[0])
    accept(images[23], users)
    assert retraining_check() == []  # 1 new acceptance since that run is below the threshold
    assert TrainingRun.objects.filter(project=project).count() == 1


@pytest.mark.django_db
def test_retrain_schedule_is_a_periodic_task_editable_in_the_admin():
    task = periodic_task_ensure(key="retraining")
    assert task.task == "annotator.learning.tasks.check_retraining" and task.enabled
    assert task.interval.every == 600 and task.interval.period == "seconds"
    assert periodic_task_ensure(key="retraining").pk == task.pk
    faster = periodic_task_ensure(key="retraining", every_seconds=5)
    assert faster.pk == task.pk and faster.interval.every == 5

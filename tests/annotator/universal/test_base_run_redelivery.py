"""A base run whose worker died mid-run: one run, one version, and the universal base changes at most once.

Through a real worker killed inside training (``tests.reliability.worker_kill``): on Redis the
broker redelivers the run to the restarted worker, which takes it over and completes it with the
version its killed attempt created; on the embedded filesystem broker the message dies with the
worker and the reaper fails the run and its version. At service level (any broker): the
redelivered message, handled in this process, finds what a killed attempt leaves behind.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from annotator.jobs.models import JobStatus
from annotator.learning.models import ACTIVE_RUN_STATUSES, ModelVersion, TrainingRun
from annotator.learning.services import base_model_version
from annotator.projects.models import Image, ImageStatus
from annotator.universal.models import BaseEvaluation
from annotator.universal.services import contribution_set, taxonomy_set
from annotator.universal.tasks import train_base_model
from annotator.universal.training import base_run_request
from tests.annotator.learning.conftest import accept, add_images
from tests.annotator.universal.conftest import base_names, team_project, wait_finished
from tests.conftest import wait_for
from tests.reliability.worker_kill import entered, kill_mid_task_and_restart, on_redis, reap_like_beat

BASE_TRAINING = "ml.fleet.base:retrain_base"


def _contributing_project(users) -> list[int]:
    """North DC, opted in with 'carton' -> cardboard_box; 4 accepted val and 6 accepted train images (their ids)."""
    north = team_project(users, "North DC", ["carton"])
    taxonomy_set(project=north, mapping={north.categories.get(name="carton").id: "cardboard_box"})
    contribution_set(project=north, user=users["admin"], contribute=True)
    images = add_images(north, 26, first_seed=1000)  # the first 20 form the fixed val split
    val = [i for i in images if i.split == Image.Split.VAL][:4]
    train = [i for i in images if i.split == Image.Split.TRAIN][:6]
    for image in val + train:
        accept(image, users, category_name="carton")
    north.images.filter(status=ImageStatus.NEW).delete()  # only there to fill the val split
    return [i.pk for i in train]


def _assert_one_version_and_nothing_left_running(
    run: TrainingRun, shipped: ModelVersion, train_ids: list[int]
):
    assert base_names() == [
        shipped.name,
        "universal-base-v2",
    ]  # the shipped base and this run's: no duplicate
    version = ModelVersion.objects.get(pk=run.result_version_id)
    assert version.name == "universal-base-v2" and version.parent_id == shipped.pk
    assert sorted(version.training_images) == sorted(train_ids)
    assert run.report["decision"] == "promoted", run.report
    assert base_model_version().pk == version.pk and version.status == ModelVersion.Status.PROMOTED
    assert ModelVersion.objects.get(pk=shipped.pk).status == ModelVersion.Status.ARCHIVED
    # One set of gate figures: candidate and current base on the synthetic held-out set and on North's val split.
    assert BaseEvaluation.objects.filter(run=run).count() == 4
    assert not TrainingRun.objects.filter(status__in=ACTIVE_RUN_STATUSES).exists()
    assert not ModelVersion.objects.filter(status=ModelVersion.Status.TRAINING).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("slowed", [BASE_TRAINING], indirect=True)
def test_a_base_run_killed_mid_training_is_taken_over_with_its_version_or_reaped(
    slowed, users, envelope_base, fast_base_env, celery_worker, settings
):
    train_ids = _contributing_project(users)
    shipped = base_model_version()
    run = base_run_request(user=users["admin"])

    kill_mid_task_and_restart(celery_worker, slowed)

    killed = TrainingRun.objects.select_related("result_version").get(pk=run.pk)
    assert killed.status == JobStatus.RUNNING and killed.result_version.status == ModelVersion.Status.TRAINING
    assert base_model_version().pk == shipped.pk  # nothing promoted by a dead run

    if not on_redis():
        wait_for(
            lambda: (
                reap_like_beat(settings) or TrainingRun.objects.get(pk=run.pk).status != JobStatus.RUNNING
            ),
            timeout=60,
            interval=1,
            what="the reaper to fail the base run",
        )
        run.refresh_from_db()
        assert run.status == JobStatus.FAILED and "reaper" in run.message
        assert ModelVersion.objects.get(pk=killed.result_version_id).status == ModelVersion.Status.FAILED
        assert base_model_version().pk == shipped.pk
        pytest.skip(
            "filesystem broker: in-flight task lost on SIGKILL (no redelivery); the reaper failed the run "
            "and its version. Take-over is checked on Redis (CELERY_BROKER_URL=redis://...)"
        )

    run = wait_finished(run.pk, celery_worker)
    assert run.status == JobStatus.SUCCEEDED, run.message
    assert run.attempts == 2  # the killed attempt, then the redelivered one that took over
    assert entered(slowed) >= 2  # training really ran again
    assert run.result_version_id == killed.result_version_id  # the killed attempt's version, reused
    _assert_one_version_and_nothing_left_running(run, shipped, train_ids)


@pytest.mark.slow  # trains a base run in this process (about a minute)
@pytest.mark.django_db
def test_a_redelivered_base_run_reuses_what_its_killed_attempt_left(
    users, envelope_base, fast_base_env, settings
):
    settings.ANNOTATOR = {**settings.ANNOTATOR, "STALE_JOB_SECONDS": 60}
    train_ids = _contributing_project(users)
    shipped = base_model_version()
    run = base_run_request(user=users["admin"])
    # What a worker killed in the gate leaves: the run 'running' without a heartbeat for minutes, its version
    # 'training', one figure of the gate, a half-written checkpoint in the run's folder.
    left = ModelVersion.objects.create(
        project=None,
        parent=shipped,
        name="universal-base-v2",
        checkpoint="",
        status=ModelVersion.Status.TRAINING,
    )
    stale = timezone.now() - timedelta(minutes=5)
    TrainingRun.objects.filter(pk=run.pk).update(
        status=JobStatus.RUNNING, attempts=1, started_at=stale, heartbeat_at=stale, result_version=left
    )
    BaseEvaluation.objects.create(version=left, project=None, run=run, mask_ap=0.0)
    workdir = Path(settings.ANNOTATOR["MODEL_ROOT"]) / "universal" / f"run_{run.pk}"
    workdir.mkdir(parents=True)
    (workdir / "model.pt").write_bytes(b"half a checkpoint")

    train_base_model(run.pk)  # the redelivered message

    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.message
    assert run.attempts == 2 and run.result_version_id == left.pk
    _assert_one_version_and_nothing_left_running(run, shipped, train_ids)
    checkpoint = Path(ModelVersion.objects.get(pk=left.pk).checkpoint)
    assert checkpoint.is_relative_to(workdir) and checkpoint.read_bytes() != b"half a checkpoint"

    train_base_model(run.pk)  # a duplicate after the run finished does nothing
    run.refresh_from_db()
    assert run.attempts == 2 and base_names() == [shipped.name, "universal-base-v2"]

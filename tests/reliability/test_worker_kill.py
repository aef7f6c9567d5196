"""SIGKILL the Celery worker in the middle of a long task, restart it, and check the outcome.

On Redis (production, CI) the broker redelivers the unacknowledged task to the restarted worker
(acks_late + a short ``CELERY_VISIBILITY_TIMEOUT`` in the worker's env) and the job's status
guard lets it take over: the work completes exactly once, with no duplicate rows. On the embedded
filesystem broker the in-flight message dies with the worker; there the reaper must still clear
the job so nothing stays "running". A training run is checked both ways: taken over after
redelivery (Redis), and failed by the reaper, with its model version, then run again (any broker).
How a call is made long and the worker killed inside it: ``tests.reliability.worker_kill``.
"""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from annotator.jobs.models import BatchJob, JobStatus
from tests.annotator.learning.conftest import accept, add_images
from tests.conftest import wait_for
from tests.factories import image_bytes, square_shape
from tests.reliability.worker_kill import entered, kill_mid_task_and_restart, on_redis, reap_like_beat


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("slowed", ["annotator.prompting.engine:compute"], indirect=True)
def test_embedding_task_killed_mid_way_completes_once(slowed, celery_worker, project, users, settings):
    from annotator.projects.ingest import images_ingest
    from annotator.prompting.models import Embedding

    project.auto_pre_label = False
    project.save(update_fields=["auto_pre_label"])
    images = images_ingest(
        project=project,
        uploads=[(f"kill-{i}.jpg", io.BytesIO(image_bytes(640, 480, seed=200 + i))) for i in range(3)],
        user=users["admin"],
    ).created
    job = wait_for(
        lambda: BatchJob.objects.filter(project=project, kind=BatchJob.Kind.EMBEDDING).first(),
        timeout=30,
        what="the embedding batch job",
    )

    kill_mid_task_and_restart(celery_worker, slowed)

    if not on_redis():
        # The filesystem transport hands a message over before the ack: it dies with the worker.
        wait_for(
            lambda: reap_like_beat(settings) or BatchJob.objects.get(pk=job.pk).status != JobStatus.RUNNING,
            timeout=60,
            interval=1,
            what="the reaper to clear the embedding job",
        )
        job.refresh_from_db()
        assert job.status != JobStatus.RUNNING
        pytest.skip(
            "filesystem broker: in-flight task lost on SIGKILL (no redelivery); reaper cleared the job. "
            "Exactly-once completion is checked on Redis (CELERY_BROKER_URL=redis://...)"
        )

    def finished():
        job.refresh_from_db()
        return job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    wait_for(
        finished,
        timeout=120,
        interval=0.5,
        what=f"the embedding job to finish\n{celery_worker.log()[-3000:]}",
    )
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert (job.done, job.total) == (3, 3)  # the killed image counted once, not twice
    assert entered(slowed) >= len(images) + 1  # the killed call really ran again
    rows = Embedding.objects.filter(image__in=images)
    assert rows.count() == len(images) and all(r.status == Embedding.Status.READY for r in rows)
    assert all(Path(r.path).exists() for r in rows)
    assert not list(Path(settings.ANNOTATOR["EMBEDDING_ROOT"]).rglob("*.part"))  # no half-written file
    assert not BatchJob.objects.filter(status=JobStatus.RUNNING).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("slowed", ["annotator.datasets.services:_write_instances"], indirect=True)
def test_export_killed_mid_way_completes_once(slowed, celery_worker, project, users, settings):
    from django.db import transaction

    from annotator.annotations.services import annotations_save, image_review, image_submit
    from annotator.datasets.models import ExportJob
    from annotator.datasets.services import export_create
    from annotator.projects.ingest import images_ingest

    project.auto_pre_label = False
    project.save(update_fields=["auto_pre_label"])
    admin = users["admin"]
    category = project.categories.first()
    images = images_ingest(
        project=project,
        uploads=[(f"exp-{i}.jpg", io.BytesIO(image_bytes(96, 64, seed=300 + i))) for i in range(4)],
        user=admin,
    ).created
    for image in images:
        image = annotations_save(
            image=image,
            annotations=[{"category": category.id, "shape": square_shape(4, 4, 20)}],
            user=admin,
            expected_version=image.version,
        )
        image = image_submit(image=image, user=admin, expected_version=image.version)
        image_review(image=image, user=users["reviewer"], decision="accept")  # not the submitter
    with transaction.atomic():
        job = export_create(project=project, user=admin)

    kill_mid_task_and_restart(celery_worker, slowed)

    if not on_redis():
        wait_for(
            lambda: reap_like_beat(settings) or ExportJob.objects.get(pk=job.pk).status != JobStatus.RUNNING,
            timeout=60,
            interval=1,
            what="the reaper to clear the export job",
        )
        job.refresh_from_db()
        assert job.status == JobStatus.FAILED and "reaper" in job.message
        pytest.skip(
            "filesystem broker: in-flight task lost on SIGKILL (no redelivery); reaper cleared the job. "
            "Exactly-once completion is checked on Redis (CELERY_BROKER_URL=redis://...)"
        )

    def finished():
        job.refresh_from_db()
        return job.is_finished

    wait_for(finished, timeout=120, interval=0.5, what=f"the export to finish\n{celery_worker.log()[-3000:]}")
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert job.attempts == 2  # the killed attempt, then the redelivered one that took over
    assert ExportJob.objects.filter(project=project).count() == 1
    assert job.summary["images"] == 4 and job.summary["annotations"] == 4, job.summary
    exports = [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file() and "coco" in p.name]
    assert len(exports) == 1, exports  # one archive, no leftover from the killed attempt


@pytest.mark.django_db
def test_reaper_fails_running_jobs_whose_heartbeat_stopped(project, settings):
    from annotator.datasets.models import ExportJob

    settings.ANNOTATOR = {**settings.ANNOTATOR, "STALE_JOB_SECONDS": 60}
    old = timezone.now() - timedelta(minutes=5)
    dead = ExportJob.objects.create(project=project, options={}, status=JobStatus.RUNNING, heartbeat_at=old)
    alive = ExportJob.objects.create(
        project=project, options={}, status=JobStatus.RUNNING, heartbeat_at=timezone.now()
    )
    never = BatchJob.objects.create(project=project, kind=BatchJob.Kind.EMBEDDING, status=JobStatus.RUNNING)

    from annotator.jobs.tasks import reap_stale_jobs

    assert reap_stale_jobs() == 2  # the task beat runs, on the same threshold
    for job in (dead, alive, never):
        job.refresh_from_db()
    assert dead.status == JobStatus.FAILED and "reaper" in dead.message
    assert never.status == JobStatus.FAILED
    assert alive.status == JobStatus.RUNNING


@pytest.mark.django_db
def test_the_reaper_fails_the_model_version_a_dead_training_run_left_training(project, users, settings):
    from annotator.jobs.tasks import reap_stale_jobs
    from annotator.learning.models import ModelVersion, TrainingRun
    from tests.factories import make_project

    settings.ANNOTATOR = {**settings.ANNOTATOR, "STALE_JOB_SECONDS": 60}
    other = make_project(admin=users["admin"], name="Warehouse B")
    training = ModelVersion.Status.TRAINING
    dead_version = ModelVersion.objects.create(
        project=project, name="warehouse-a-v2", checkpoint="", status=training
    )
    dead = TrainingRun.objects.create(
        project=project,
        status=JobStatus.RUNNING,
        result_version=dead_version,
        heartbeat_at=timezone.now() - timedelta(minutes=5),
    )
    live_version = ModelVersion.objects.create(
        project=other, name="warehouse-b-v1", checkpoint="", status=training
    )
    TrainingRun.objects.create(
        project=other, status=JobStatus.RUNNING, result_version=live_version, heartbeat_at=timezone.now()
    )
    # A live run creates its version a moment before linking it: such a version is not an orphan.
    ModelVersion.objects.create(project=other, name="not linked yet", checkpoint="", status=training)
    # What the dead run half-wrote, and a finished run's folder whose checkpoint a version uses.
    from annotator.learning.runs import run_workdir

    dead_folder = run_workdir(run=dead)
    (dead_folder / "train").mkdir(parents=True)
    (dead_folder / "model.pt").write_bytes(b"half a checkpoint")
    done_version = ModelVersion.objects.create(
        project=project, name="warehouse-a-v1", checkpoint="", status=ModelVersion.Status.READY
    )
    done = TrainingRun.objects.create(
        project=project, status=JobStatus.SUCCEEDED, result_version=done_version
    )
    run_workdir(run=done).mkdir(parents=True)
    (run_workdir(run=done) / "model.pt").write_bytes(b"a checkpoint in use")

    assert reap_stale_jobs() == 1
    assert not dead_folder.exists()
    assert (run_workdir(run=done) / "model.pt").read_bytes() == b"a checkpoint in use"

    dead.refresh_from_db()
    assert dead.status == JobStatus.FAILED and "reaper" in dead.message
    statuses = dict(ModelVersion.objects.values_list("name", "status"))
    assert statuses == {
        "warehouse-a-v2": "failed",
        "warehouse-b-v1": "training",
        "not linked yet": "training",
        "warehouse-a-v1": "ready",
    }
    assert "stopped without finishing" in ModelVersion.objects.get(pk=dead_version.pk).metrics["error"]


# --------------------------------------------------------------------------- a training run

FINE_TUNE = "annotator.learning.adapters.training:fine_tune"
RUN_TIMEOUT = 240


@pytest.fixture
def no_redelivery(slowed, monkeypatch):
    """Keep the killed task from coming back during the test: the broker's default one-hour visibility timeout."""
    monkeypatch.delenv("CELERY_VISIBILITY_TIMEOUT")


def _training_scene(project, users, checkpoint):
    """Accepted images for a tiny run (2 val, 4 train) and the promoted project model it has to beat."""
    from annotator.learning.models import ModelVersion

    images = add_images(project, 24)  # the first 20 form the fixed val split
    for image in images[:2] + images[20:]:
        accept(image, users)
    for image in images[
        2:20
    ]:  # only there to fill the val split; deleted, nothing is re-scored after promotion
        image.delete()
    incumbent = ModelVersion.objects.create(
        project=project,
        name="warehouse-a-v1",
        checkpoint=str(checkpoint),
        status=ModelVersion.Status.PROMOTED,
    )
    project.active_model = incumbent
    project.save(update_fields=["active_model"])
    return incumbent


def _assert_current_model_is(project, version, status: str) -> None:
    project.refresh_from_db()
    version.refresh_from_db()
    assert project.active_model_id == version.pk and version.status == status, (project.active_model, version)


def _finished_run(run_id: int, worker):
    from annotator.learning.models import TrainingRun

    def finished():
        run = TrainingRun.objects.select_related("result_version").get(pk=run_id)
        return run if run.is_finished else None

    return wait_for(
        finished,
        timeout=RUN_TIMEOUT,
        interval=0.5,
        what=f"training run {run_id} to finish\n{worker.log()[-3000:]}",
    )


def _assert_nothing_left_running() -> None:
    from annotator.learning.models import ACTIVE_RUN_STATUSES, ModelVersion, TrainingRun

    assert not TrainingRun.objects.filter(status__in=ACTIVE_RUN_STATUSES).exists()
    assert not ModelVersion.objects.filter(status=ModelVersion.Status.TRAINING).exists()
    # a promotion's re-scoring (it refreshes the labelled images' features too) runs on, and must finish
    rescoring = BatchJob.objects.filter(
        kind=BatchJob.Kind.RESCORE, status__in=(JobStatus.PENDING, JobStatus.RUNNING)
    )
    wait_for(
        lambda: not rescoring.exists(), timeout=RUN_TIMEOUT, interval=0.5, what="the re-scoring to finish"
    )
    assert not BatchJob.objects.filter(status=JobStatus.RUNNING).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not on_redis(),
    reason="filesystem broker: an in-flight task dies with the worker (no "
    "redelivery); the reaper path is checked by the next test. Run on Redis (CELERY_BROKER_URL)",
)
@pytest.mark.parametrize("slowed", [FINE_TUNE], indirect=True)
def test_a_training_run_killed_mid_way_is_taken_over_and_completes_once(
    slowed,
    training_worker,
    base_checkpoint,
    project,
    users,
):
    from annotator.learning.models import ModelVersion, TrainingRun
    from annotator.learning.training import training_run_request

    incumbent = _training_scene(project, users, base_checkpoint)
    run = training_run_request(project=project, user=users["admin"])

    kill_mid_task_and_restart(training_worker, slowed)

    killed = TrainingRun.objects.get(pk=run.pk)
    assert killed.status == JobStatus.RUNNING and killed.result_version.status == ModelVersion.Status.TRAINING
    _assert_current_model_is(
        project, incumbent, ModelVersion.Status.PROMOTED
    )  # nothing promoted by a dead run

    run = _finished_run(run.pk, training_worker)
    assert run.status == JobStatus.SUCCEEDED, run.message
    assert run.attempts == 2  # the killed attempt, then the redelivered one that took over
    assert entered(slowed) >= 2  # fine-tuning really ran again
    assert run.result_version_id == killed.result_version_id  # the killed attempt's version, reused
    assert (
        ModelVersion.objects.filter(project=project).count() == 2
    )  # the incumbent and this run's: no duplicate
    assert TrainingRun.objects.filter(project=project).count() == 1
    assert run.report["decision"] == "promoted", run.report
    _assert_current_model_is(project, run.result_version, ModelVersion.Status.PROMOTED)
    incumbent.refresh_from_db()
    assert incumbent.status == ModelVersion.Status.ARCHIVED
    _assert_nothing_left_running()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("slowed", [FINE_TUNE], indirect=True)
def test_a_training_run_killed_mid_way_is_failed_by_the_reaper_with_its_version_and_can_run_again(
    slowed,
    no_redelivery,
    training_worker,
    base_checkpoint,
    project,
    users,
    settings,
):
    from annotator.learning.models import ModelVersion, TrainingRun
    from annotator.learning.training import training_run_request

    incumbent = _training_scene(project, users, base_checkpoint)
    run = training_run_request(project=project, user=users["admin"])

    kill_mid_task_and_restart(training_worker, slowed)

    killed = TrainingRun.objects.get(pk=run.pk)
    assert killed.status == JobStatus.RUNNING and killed.result_version.status == ModelVersion.Status.TRAINING
    wait_for(
        lambda: reap_like_beat(settings) or TrainingRun.objects.get(pk=run.pk).status != JobStatus.RUNNING,
        timeout=60,
        interval=1,
        what="the reaper to fail the training run",
    )
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED and "reaper" in run.message
    assert run.result_version.status == ModelVersion.Status.FAILED  # not left 'training'
    _assert_current_model_is(project, incumbent, ModelVersion.Status.PROMOTED)
    _assert_nothing_left_running()

    again = training_run_request(project=project, user=users["admin"])  # the lock went with the failed run
    again = _finished_run(again.pk, training_worker)
    assert again.status == JobStatus.SUCCEEDED and again.attempts == 1, again.message
    assert again.report["decision"] == "promoted", again.report
    _assert_current_model_is(project, again.result_version, ModelVersion.Status.PROMOTED)
    # One version per run: the incumbent, the killed run's (failed), the new run's.
    assert sorted(ModelVersion.objects.filter(project=project).values_list("status", flat=True)) == [
        "archived",
        "failed",
        "promoted",
    ]
    _assert_nothing_left_running()

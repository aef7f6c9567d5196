"""The learning loop end to end through a real Celery worker (and, for the schedule, a real beat).

Models are tiny (extra-small UNet, 64 px scenes of bright squares) so a run takes seconds; the
code paths are the product's: COCO from accepted annotations, ``ml.universal`` training and
COCO evaluation, the promotion gate, and re-scoring on the inference queue.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from annotator.annotations.selectors import queue_candidates
from annotator.jobs.models import BatchJob, JobStatus
from annotator.jobs.schedule import periodic_task_ensure
from annotator.learning.models import ModelVersion, Prediction, TrainingRun
from annotator.learning.services import image_predict
from annotator.projects.models import Image
from tests.annotator.learning.conftest import accept, add_images
from tests.conftest import ROOT, wait_for

RUN_TIMEOUT = 240


def _finished(run_id: int, worker) -> TrainingRun:
    def done():
        run = TrainingRun.objects.get(pk=run_id)
        return run if run.is_finished else None

    return wait_for(
        done, timeout=RUN_TIMEOUT, what=f"training run {run_id} to finish\n{worker.log()[-3000:]}"
    )


def _start_beat(worker, tmp_path) -> subprocess.Popen:
    log = open(tmp_path / "celery-beat.log", "ab")  # noqa: SIM115 - owned by the subprocess
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "annotator",
            "beat",
            "-S",
            "django_celery_beat.schedulers:DatabaseScheduler",
            "--max-interval",
            "1",
            "-l",
            "INFO",
            "--pidfile",
            str(tmp_path / "beat.pid"),
        ],
        cwd=ROOT,
        env=worker.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


@pytest.mark.django_db(transaction=True)
def test_accepted_images_start_one_scheduled_run_which_promotes_and_rescores(
    project,
    users,
    client_for,
    training_worker,
    tmp_path,
):
    project.retrain_threshold = 6
    project.queue_strategy = "uncertainty"
    project.save()
    images = add_images(project, 24)  # the first 20 form the fixed val split
    for image in images:
        image_predict(image=image)  # pre-labels and scores from the shipped base, as after upload
    accepted_val, accepted_train, pending = images[:2], images[20:], images[2:20]
    for image in accepted_val + accepted_train[:3]:
        accept(image, users)
    periodic_task_ensure(key="retraining", every_seconds=1)
    beat = _start_beat(training_worker, tmp_path)
    try:
        wait_for(
            lambda: (
                (tmp_path / "celery-beat.log").exists()
                and b"check_retraining" in (tmp_path / "celery-beat.log").read_bytes()
            ),
            timeout=60,
            what="beat to send the retraining check",
        )
        assert not TrainingRun.objects.exists()  # 5 accepted < threshold 6: checks run, nothing starts
        accept(accepted_train[3], users)
        run = wait_for(
            lambda: TrainingRun.objects.filter(project=project).first(),
            timeout=60,
            what=f"the beat check to start a run\n{training_worker.log()[-2000:]}",
        )
        refused = client_for("admin").post(f"/api/v1/projects/{project.pk}/training-runs")
        run = _finished(run.pk, training_worker)
    finally:
        _stop(beat)
    assert TrainingRun.objects.filter(project=project).count() == 1  # beat fired every second; one run
    if refused.status_code != 202:
        assert refused.json()["error"]["code"] == "training_in_progress"
    assert run.trigger == "schedule"
    assert run.status == JobStatus.SUCCEEDED, run.message
    assert run.epoch >= 1 and run.epochs == 150 and run.loss is not None and run.progress == 100

    version = run.result_version
    version.refresh_from_db()
    assert sorted(version.metrics["val"]["image_ids"]) == sorted(i.pk for i in accepted_val)
    assert sorted(version.training_images) == sorted(i.pk for i in accepted_train)
    assert version.metrics["mask_ap"] > version.metrics["compared_with"]["mask_ap"]
    assert version.status == ModelVersion.Status.PROMOTED
    project.refresh_from_db()
    assert project.active_model_id == version.pk
    api = client_for("annotator").get(f"/api/v1/training-runs/{run.pk}").json()
    assert api["report"]["decision"] == "promoted" and api["result_version"]["metrics"]["mask_ap"] > 0

    job = wait_for(
        lambda: BatchJob.objects.filter(
            project=project, kind=BatchJob.Kind.RESCORE, status=JobStatus.SUCCEEDED
        ).first(),
        timeout=120,
        what=f"the re-scoring job\n{training_worker.log()[-2000:]}",
    )
    labelled = accepted_val + accepted_train  # their features only, so that the queue compares one encoder
    assert job.total == len(pending) + len(labelled) and job.done == job.total
    assert all(
        image.features_model_id == version.pk
        for image in Image.objects.filter(pk__in=[i.pk for i in labelled])
    )
    new_scores = {}
    for image in pending:
        prediction = Prediction.objects.get(image=image, model_version=version)
        image.refresh_from_db()
        assert image.uncertainty == pytest.approx(prediction.uncertainty)
        new_scores[image.pk] = prediction.uncertainty
    assert not Prediction.objects.filter(
        model_version=version, image__in=accepted_val + accepted_train
    ).exists()
    old_scores = {
        p.image_id: p.uncertainty
        for p in Prediction.objects.filter(image__in=pending).exclude(model_version=version)
    }
    assert any(abs(new_scores[pk] - old_scores[pk]) > 1e-6 for pk in new_scores)
    from django.utils import timezone

    queue = queue_candidates(project=project, now=timezone.now(), limit=50)
    assert queue == sorted(new_scores, key=lambda pk: (-new_scores[pk], pk))


@pytest.mark.django_db(transaction=True)
def test_a_worse_model_is_kept_but_not_promoted(project, users, client_for, training_worker, good_checkpoint):
    current = ModelVersion.objects.create(
        project=project,
        name="warehouse-a-v1",
        checkpoint=str(good_checkpoint),
        status=ModelVersion.Status.PROMOTED,
    )
    project.active_model = current
    project.save()
    images = add_images(project, 24)
    for image in images[:3]:
        accept(image, users)
    for image in images[20:]:  # a careless annotator labels the boxes as envelopes
        accept(image, users, category_name="envelope")

    started = client_for("admin").post(f"/api/v1/projects/{project.pk}/training-runs")
    assert started.status_code == 202
    run = _finished(started.json()["id"], training_worker)

    assert run.status == JobStatus.SUCCEEDED, run.message
    assert run.report["decision"] == "not promoted" and "not promoted" in run.message
    version = ModelVersion.objects.get(pk=run.result_version_id)
    assert version.status == ModelVersion.Status.READY and version.parent_id == current.pk
    assert version.metrics["mask_ap"] <= version.metrics["compared_with"]["mask_ap"]
    assert version.metrics["compared_with"]["version"] == current.pk
    assert version.metrics["compared_with"]["mask_ap"] > 0.3  # the current model is good on the val split
    project.refresh_from_db()
    assert project.active_model_id == current.pk
    assert not BatchJob.objects.filter(project=project, kind=BatchJob.Kind.RESCORE).exists()
    registry = client_for("admin").get(f"/api/v1/projects/{project.pk}/model-versions").json()
    assert {v["name"]: v["status"] for v in registry["versions"]} == {
        "warehouse-a-v1": "promoted",
        version.name: "ready",
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("training_epochs", [100_000])
def test_a_cancelled_run_changes_nothing(project, users, client_for, training_worker):
    images = add_images(project, 22)
    for image in (images[0], images[21]):
        accept(image, users)
    run_id = client_for("admin").post(f"/api/v1/projects/{project.pk}/training-runs").json()["id"]
    wait_for(
        lambda: TrainingRun.objects.filter(pk=run_id, epoch__gte=2).exists(),
        timeout=120,
        what=f"training to report progress\n{training_worker.log()[-2000:]}",
    )
    live = client_for("annotator").get(f"/api/v1/training-runs/{run_id}").json()
    assert live["status"] == "running" and live["eta_seconds"] is not None and live["loss"] is not None
    assert client_for("admin").post(f"/api/v1/training-runs/{run_id}/cancel").status_code == 200

    run = _finished(run_id, training_worker)
    assert run.status == JobStatus.CANCELLED and "unchanged" in run.message
    project.refresh_from_db()
    assert project.active_model is None
    assert run.result_version.status == ModelVersion.Status.FAILED
    assert not BatchJob.objects.filter(project=project, kind=BatchJob.Kind.RESCORE).exists()
    again = client_for("admin").post(f"/api/v1/projects/{project.pk}/training-runs")
    assert again.status_code == 202  # the lock went with the cancelled run
    client_for("admin").post(f"/api/v1/training-runs/{again.json()['id']}/cancel")


@pytest.mark.django_db(transaction=True)
def test_a_crashed_run_fails_with_a_reason_and_changes_nothing(
    project, users, client_for, training_worker, tmp_path
):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    current = ModelVersion.objects.create(
        project=project, name="warehouse-a-v1", checkpoint=str(broken), status=ModelVersion.Status.PROMOTED
    )
    project.active_model = current
    project.save()
    images = add_images(project, 22)
    for image in (images[0], images[21]):
        accept(image, users)
    run_id = client_for("admin").post(f"/api/v1/projects/{project.pk}/training-runs").json()["id"]

    run = _finished(run_id, training_worker)
    assert run.status == JobStatus.FAILED
    assert "active model is unchanged" in run.message and "Error" in run.message
    project.refresh_from_db()
    current.refresh_from_db()
    assert project.active_model_id == current.pk and current.status == ModelVersion.Status.PROMOTED
    assert not BatchJob.objects.filter(project=project, kind=BatchJob.Kind.RESCORE).exists()


@pytest.mark.worker  # it starts its worker itself, after setting the reaper's delay
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("training_epochs", [100_000])
def test_the_lock_survives_a_killed_worker_until_the_run_is_reaped(
    project,
    users,
    client_for,
    monkeypatch,
    request,
    training_epochs,
):
    monkeypatch.setenv("ANNOTATOR_STALE_JOB_SECONDS", "4")
    worker = request.getfixturevalue("training_worker")
    images = add_images(project, 22)
    for image in (images[0], images[21]):
        accept(image, users)
    url = f"/api/v1/projects/{project.pk}/training-runs"
    run_id = client_for("admin").post(url).json()["id"]
    wait_for(
        lambda: TrainingRun.objects.filter(pk=run_id, epoch__gte=1).exists(),
        timeout=120,
        what=f"training to start\n{worker.log()[-2000:]}",
    )

    worker.kill()  # SIGKILL mid-training: nothing runs the run's cleanup
    worker.start()
    refused = client_for("admin").post(url)
    assert refused.status_code == 409 and refused.json()["error"]["training_run"] == run_id

    from annotator.jobs.tasks import reap_stale_jobs

    def reaped():
        reap_stale_jobs.delay()
        return TrainingRun.objects.filter(pk=run_id, status=JobStatus.FAILED).first()

    run = wait_for(
        reaped, timeout=60, interval=2, what=f"the reaper to fail run {run_id}\n{worker.log()[-2000:]}"
    )
    assert "stopped reporting" in run.message
    project.refresh_from_db()
    assert project.active_model is None
    retried = client_for("admin").post(url)
    assert retried.status_code == 202
    assert ModelVersion.objects.get(pk=run.result_version_id).status == ModelVersion.Status.FAILED
    client_for("admin").post(f"/api/v1/training-runs/{retried.json()['id']}/cancel")

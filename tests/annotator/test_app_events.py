"""How the apps talk across the stack: signals upward on commit, tasks downward by name and route."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotator.celery import app
from annotator.jobs.models import BatchJob, JobStatus
from annotator.jobs.tasks import reap_stale_jobs
from annotator.learning.models import ModelVersion, TrainingRun
from tests.factories import image_bytes


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, tuple]]:
    """What ``enqueue`` hands the broker, as (task name, args), instead of sending it."""
    calls: list[tuple[str, tuple]] = []
    monkeypatch.setattr(app, "send_task", lambda name, args=(), **_: calls.append((name, tuple(args))))
    return calls


@pytest.mark.django_db
def test_an_upload_announces_its_images_and_prompting_and_learning_each_queue_their_job(
    project, client_for, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for("admin").post(
            f"/api/v1/projects/{project.id}/images",
            {"files": [SimpleUploadedFile(f"{n}.jpg", image_bytes(seed=n)) for n in (1, 2)]},
            format="multipart",
        )
    assert response.status_code == 201
    ids = [row["id"] for row in response.json()["created"]]
    embed = BatchJob.objects.get(project=project, kind=BatchJob.Kind.EMBEDDING)
    label = BatchJob.objects.get(project=project, kind=BatchJob.Kind.PRE_LABEL)
    assert (embed.total, label.total, embed.pk < label.pk) == (2, 2, True)  # embeddings first
    assert sent == [("annotator.prompting.tasks.compute_embedding", (pk, embed.pk)) for pk in ids] + [
        ("annotator.learning.tasks.pre_label_image", (pk, label.pk)) for pk in ids
    ]


@pytest.mark.django_db
def test_nothing_is_queued_before_the_upload_commits(project, client_for, sent):
    # Without a commit (the test's transaction never commits) no signal is sent and no task queued.
    response = client_for("admin").post(
        f"/api/v1/projects/{project.id}/images",
        {"files": [SimpleUploadedFile("1.jpg", image_bytes(seed=1))]},
        format="multipart",
    )
    assert response.status_code == 201
    assert sent == [] and not BatchJob.objects.exists()


@pytest.mark.django_db
def test_the_reaper_announces_and_learning_fails_the_versions_its_dead_runs_left_training(project):
    version = ModelVersion.objects.create(
        project=project, name="warehouse-a-v1", checkpoint="/x.pt", status=ModelVersion.Status.TRAINING
    )
    TrainingRun.objects.create(project=project, status=JobStatus.FAILED, result_version=version)
    assert (
        reap_stale_jobs() == 0
    )  # nothing was running; the versions of finished runs are failed all the same
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.FAILED
    assert version.metrics == {"error": "its training run stopped without finishing"}


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("annotator.prompting.tasks.compute_embedding", "inference"),
        ("annotator.learning.tasks.pre_label_image", "inference"),
        ("annotator.learning.tasks.refresh_features", "default"),
        ("annotator.learning.tasks.train_model", "training"),
        ("annotator.universal.tasks.train_base_model", "training"),
        ("annotator.universal.tasks.evaluate_base_for_projects", "training"),
        ("annotator.datasets.tasks.export_coco", "default"),
        ("annotator.jobs.tasks.reap_stale_jobs", "default"),
    ],
)
def test_each_task_goes_to_its_queue_from_the_one_routing_table(task, queue):
    route = app.amqp.router.route({}, task)
    assert route["queue"].name == queue

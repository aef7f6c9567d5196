"""A broker that refuses messages never turns saved work into a 500, nor leaves a job pending forever.

The broker refuses for real (``refusing_broker``: Redis on a dead port, or a filesystem queue under a
file), then comes back (the test's own ``broker``), on the real database. What a person did is kept
and answered as usual; the job the message was for fails saying why; and the next request, once the
broker is back, queues its task as if nothing had happened.
"""

from __future__ import annotations

import logging

import pytest

from annotator.datasets.models import ExportJob
from annotator.jobs.models import BatchJob, JobStatus
from annotator.learning.models import TrainingRun, TrustGateRefresh
from annotator.learning.trust_refresh import REFRESH_TRUST_GATE
from annotator.projects.models import Image, ImageStatus
from annotator.prompting.models import Embedding
from tests.annotator.annotations.test_review import submitted
from tests.annotator.learning.conftest import accept, add_images
from tests.annotator.prompting.test_segment import segment, upload_scene
from tests.conftest import broker_take_all, refusing_broker
from tests.factories import make_active_version

pytestmark = pytest.mark.django_db(transaction=True)

REFUSED = "the broker refused"


@pytest.fixture(autouse=True)
def _errors_logged(caplog):
    caplog.set_level(logging.ERROR, logger="annotator.jobs.enqueue")


def test_an_accepted_review_is_answered_and_kept_when_the_broker_refuses(
    project, users, client_for, broker, tmp_path, caplog
):
    make_active_version(project)
    image = submitted(project, users["annotator"])
    with refusing_broker(tmp_path):
        response = client_for("reviewer").post(
            f"/api/v1/images/{image.id}/review", {"decision": "accept"}, format="json"
        )
    assert response.status_code == 200, response.content[:300]
    assert response.json()["status"] == "accepted"
    assert Image.objects.get(pk=image.id).status == ImageStatus.ACCEPTED
    assert f"{REFUSED} {REFRESH_TRUST_GATE}" in caplog.text
    assert TrustGateRefresh.objects.get(project=project).queued_at is None  # the next review queues one


def test_an_upload_keeps_its_images_and_fails_its_jobs_saying_why_then_a_click_queues_the_embedding(
    project, client_for, broker, tmp_path, caplog
):
    client = client_for("annotator")
    with refusing_broker(tmp_path):
        image_id = upload_scene(client, project)  # asserts the 201
        pending = segment(client, image_id, points=[[65, 45]], labels=[1])
    assert Image.objects.filter(pk=image_id).exists()
    jobs = BatchJob.objects.filter(project=project)
    assert jobs.exists()
    for job in jobs:  # the embedding (and pre-label) batches did not wait forever
        assert job.status == JobStatus.FAILED and "task queue refused" in job.message, job.message
    assert pending.status_code == 202 and pending.json()["status"] == "embedding"
    assert Embedding.objects.get(image_id=image_id).status == Embedding.Status.FAILED
    assert REFUSED in caplog.text

    again = segment(client, image_id, points=[[65, 45]], labels=[1])  # the broker is back
    assert again.status_code == 202
    assert broker_take_all("inference") == [("annotator.prompting.tasks.compute_embedding", (image_id, None))]


def test_an_export_the_broker_refused_fails_saying_why_and_the_next_one_is_queued(
    project, client_for, broker, tmp_path
):
    url = f"/api/v1/projects/{project.id}/exports"
    with refusing_broker(tmp_path):
        refused = client_for("reviewer").post(url, {}, format="json")
    assert refused.status_code == 202, refused.content[:300]
    job = ExportJob.objects.get(pk=refused.json()["id"])
    assert job.status == JobStatus.FAILED and "Nothing ran" in job.message
    assert refused.json()["status"] == "failed"  # the answer says so too

    queued = client_for("reviewer").post(url, {}, format="json")
    assert queued.status_code == 202 and queued.json()["status"] == "pending"
    assert broker_take_all() == [("annotator.datasets.tasks.export_coco", (queued.json()["id"],))]


def test_a_training_run_the_broker_refused_fails_and_does_not_block_the_next(
    project, users, client_for, broker, tmp_path, base_checkpoint
):
    images = add_images(project, 22)
    accept(images[21], users)
    accept(images[0], users)
    url = f"/api/v1/projects/{project.pk}/training-runs"
    with refusing_broker(tmp_path):
        refused = client_for("admin").post(url)
    assert refused.status_code == 202, refused.content[:300]
    run = TrainingRun.objects.get(pk=refused.json()["id"])
    assert run.status == JobStatus.FAILED and "task queue refused" in run.message

    started = client_for("admin").post(url)  # a pending run would answer 409 training_in_progress
    assert started.status_code == 202, started.json()
    assert broker_take_all("training") == [("annotator.learning.tasks.train_model", (started.json()["id"],))]

"""An image opened before its pre-labels land: "pending", then "ready"; a save based on the version
the annotator opened is told the change was only the model's pre-labels (not another person)."""

import pytest

from annotator.annotations.services import annotations_save, image_pre_label
from annotator.jobs.models import BatchJob, JobStatus
from annotator.learning.models import ModelVersion, Prediction
from tests.factories import make_image, square_shape


@pytest.mark.django_db
def test_pending_then_ready_and_the_save_conflict_names_the_pre_labels(project, users, client_for):
    image = make_image(project)
    job = BatchJob.objects.create(project=project, kind=BatchJob.Kind.PRE_LABEL, total=1)
    client = client_for("annotator")
    url = f"/api/v1/images/{image.id}/prelabels"
    assert client.post(f"/api/v1/images/{image.id}/lease").status_code == 200  # the annotator opened it
    assert client.get(url).json() == {"state": "pending", "version": 0, "shown_as": None, "instances": 0}

    version = ModelVersion.objects.create(project=project, name="v1", checkpoint="unused.pt")
    category = project.categories.first().id
    shapes = [{"category": category, "shape": square_shape(10, 10, 20), "source": "model", "score": 0.9}]
    Prediction.objects.create(image=image, model_version=version, instances=shapes, shown_as="prelabel")
    assert image_pre_label(image=image, instances=shapes)
    BatchJob.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    assert client.get(url).json() == {"state": "ready", "version": 1, "shown_as": "prelabel", "instances": 1}

    stale = client.put(
        f"/api/v1/images/{image.id}/annotations",
        {"expected_version": 0, "annotations": [{"category": category, "shape": square_shape(50, 40, 10)}]},
        format="json",
    )
    assert stale.status_code == 409
    error = stale.json()["error"]
    assert error["pre_label_only"] is True and error["current_version"] == 1
    assert (
        error["message"]
        == f"Image #{image.id} got its model pre-labels (version 1) after you opened version 0"
    )
    # Once a person saved on top, a later stale save is a real conflict again.
    annotations_save(image=image, annotations=[], user=users["reviewer"], expected_version=1)
    again = client.put(
        f"/api/v1/images/{image.id}/annotations", {"expected_version": 0, "annotations": []}, format="json"
    )
    assert again.json()["error"]["pre_label_only"] is False


@pytest.mark.django_db
def test_nothing_is_pending_without_an_open_pre_label_job(project, client_for):
    image = make_image(project)
    BatchJob.objects.create(project=project, kind=BatchJob.Kind.PRE_LABEL, total=1, status=JobStatus.FAILED)
    response = client_for("annotator").get(f"/api/v1/images/{image.id}/prelabels")
    assert response.json()["state"] == "none"
    assert client_for("outsider").get(f"/api/v1/images/{image.id}/prelabels").status_code == 404

"""The learning API: runs, registry, promotion/rollback, acceptance, with the shared error shape."""

from __future__ import annotations

import pytest

from annotator.annotations.services import annotations_save, image_pre_label, image_review, image_submit
from annotator.jobs.models import BatchJob
from annotator.learning.models import ModelVersion, Prediction
from annotator.learning.services import base_model_version, image_predict, image_refresh_features
from tests.annotator.learning.conftest import accept, add_images
from tests.annotator.learning.scenes import square, tiny_checkpoint


@pytest.mark.django_db
def test_training_run_endpoints(project, users, client_for, base_checkpoint):
    url = f"/api/v1/projects/{project.pk}/training-runs"
    empty = client_for("admin").post(url)
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "not_enough_training_data"
    images = add_images(project, 22)
    accept(images[21], users)
    accept(images[0], users)  # one of the val split: the gate needs something to compare on

    assert client_for("annotator").post(url).status_code == 403
    assert client_for("outsider").post(url).status_code == 404
    started = client_for("admin").post(url)
    assert started.status_code == 202, started.json()
    run = started.json()
    assert run["status"] == "pending" and run["trigger"] == "manual" and run["requested_by"] == "alice_admin"
    again = client_for("admin").post(url)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "training_in_progress"
    assert again.json()["error"]["training_run"] == run["id"]

    listed = client_for("annotator").get(url).json()
    assert [r["id"] for r in listed] == [run["id"]]
    detail = client_for("reviewer").get(f"/api/v1/training-runs/{run['id']}").json()
    assert {"epoch", "epochs", "loss", "eta_seconds", "progress", "report"} <= set(detail)
    assert client_for("outsider").get(f"/api/v1/training-runs/{run['id']}").status_code == 404

    assert client_for("reviewer").post(f"/api/v1/training-runs/{run['id']}/cancel").status_code == 403
    cancelled = client_for("admin").post(f"/api/v1/training-runs/{run['id']}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    twice = client_for("admin").post(f"/api/v1/training-runs/{run['id']}/cancel")
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_finished"


@pytest.mark.django_db
def test_manual_promote_then_rollback_rescores_the_images_waiting_on_annotators(
    project, users, client_for, base_checkpoint, tmp_path
):
    images = add_images(project, 24)
    accept(images[20], users)  # accepted: must not be re-scored
    in_progress = images[21]
    annotations_save(image=in_progress, user=users["annotator"], expected_version=0, annotations=[])
    category = project.categories.get(name="cardboard_box")
    drawn = [{"category": category.id, "shape": square(4, 4, 20)}]
    submitted = annotations_save(
        image=images[22], user=users["annotator"], expected_version=0, annotations=drawn
    )
    image_submit(
        image=submitted, user=users["annotator"], expected_version=submitted.version
    )  # waits on review
    rejected = annotations_save(
        image=images[23], user=users["annotator"], expected_version=0, annotations=drawn
    )
    rejected = image_submit(image=rejected, user=users["annotator"], expected_version=rejected.version)
    rejected = image_review(
        image=rejected,
        user=users["reviewer"],
        decision="reject",
        comment="box missed",
        expected_version=rejected.version,
    )  # back with the annotators: re-scored
    drawn_set = [(a.category_id, a.shape) for a in rejected.annotations.all()]
    candidate = ModelVersion.objects.create(
        project=project,
        parent=base_model_version(),
        name="warehouse-a-v1",
        status=ModelVersion.Status.READY,
        checkpoint=str(tiny_checkpoint(tmp_path / "v1.pt", seed=1)),
        metrics={"mask_ap": 0.5},
    )

    assert client_for("reviewer").post(f"/api/v1/model-versions/{candidate.pk}/promote").status_code == 403
    promoted = client_for("admin").post(f"/api/v1/model-versions/{candidate.pk}/promote")
    assert promoted.status_code == 200, promoted.json()
    body = promoted.json()
    assert body["active"]["status"] == "promoted"
    project.refresh_from_db()
    assert project.active_model_id == candidate.pk
    job = BatchJob.objects.get(pk=body["rescore"]["id"])
    # re-predicted: 20 new, in progress, rejected; features only: the accepted and the submitted image
    assert job.kind == BatchJob.Kind.RESCORE and job.total == 24
    accepted = images[20]
    accepted.refresh_from_db()
    accepted_before = (
        accepted.status,
        accepted.version,
        list(accepted.annotations.values_list("shape", flat=True)),
    )
    image_refresh_features(image=accepted)  # what the job does for a labelled image
    accepted.refresh_from_db()
    assert accepted.features_model_id == candidate.pk and len(accepted.features) > 0
    assert (
        accepted.status,
        accepted.version,
        list(accepted.annotations.values_list("shape", flat=True)),
    ) == accepted_before
    assert not Prediction.objects.filter(image=accepted, model_version=candidate).exists()
    version_before = rejected.version
    image_predict(image=rejected, model_version=candidate)  # what the job does for the rejected image
    rejected.refresh_from_db()
    prediction = Prediction.objects.get(image=rejected, model_version=candidate)
    assert rejected.uncertainty == pytest.approx(prediction.uncertainty)
    assert rejected.predicted_instances == len(prediction.instances)  # the queue's content weight
    assert rejected.status == "rejected" and rejected.version == version_before  # the person's work stays
    assert [(a.category_id, a.shape) for a in rejected.annotations.all()] == drawn_set

    registry = client_for("annotator").get(f"/api/v1/projects/{project.pk}/model-versions").json()
    assert registry["active"]["id"] == candidate.pk
    assert [v["name"] for v in registry["versions"]] == ["warehouse-a-v1"]
    assert registry["base"]["name"] == "universal-base-v1"

    rolled = client_for("admin").post(f"/api/v1/projects/{project.pk}/model-versions/rollback")
    assert rolled.status_code == 200
    assert rolled.json()["active"]["name"] == "universal-base-v1"
    project.refresh_from_db()
    candidate.refresh_from_db()
    assert project.active_model is None and candidate.status == ModelVersion.Status.ARCHIVED
    nothing = client_for("admin").post(f"/api/v1/projects/{project.pk}/model-versions/rollback")
    assert nothing.status_code == 409 and nothing.json()["error"]["code"] == "nothing_to_roll_back"

    failed = ModelVersion.objects.create(
        project=project, name="broken", status=ModelVersion.Status.FAILED, checkpoint="/nonexistent.pt"
    )
    refused = client_for("admin").post(f"/api/v1/model-versions/{failed.pk}/promote")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_promotable"


@pytest.mark.django_db
def test_acceptance_metric_per_version(project, users, client_for, base_checkpoint):
    base = base_model_version()
    category = project.categories.get(name="cardboard_box")
    images = add_images(project, 22)
    kept, moved = square(4, 4, 20), square(30, 30, 20)
    image = images[0]
    Prediction.objects.create(image=image, model_version=base, instances=[], uncertainty=0.5)
    assert image_pre_label(
        image=image,
        instances=[
            {"category": category.id, "shape": kept, "source": "model"},
            {"category": category.id, "shape": moved, "source": "model"},
        ],
    )
    image.refresh_from_db()
    # The annotator keeps one pre-label and shifts the other by 10 px (IoU 200/600 = 1/3).
    image = annotations_save(
        image=image,
        user=users["annotator"],
        expected_version=image.version,
        annotations=[
            {"category": category.id, "shape": kept, "source": "model"},
            {"category": category.id, "shape": square(30, 40, 20), "source": "model"},
        ],
    )
    image = image_submit(image=image, user=users["annotator"], expected_version=image.version)
    image_review(image=image, user=users["reviewer"], decision="accept", expected_version=image.version)
    accept(images[1], users)  # never pre-labelled: not counted

    rows = client_for("annotator").get(f"/api/v1/projects/{project.pk}/acceptance").json()
    assert len(rows) == 1
    row = rows[0]
    assert row["model_version"] == base.pk and row["images"] == 1 and row["pre_labels"] == 2
    assert row["unchanged_share"] == 0.5
    assert row["mean_iou"] == pytest.approx((1 + 1 / 3) / 2, abs=0.02)

"""A retraining that cannot go wrong by one click: minimum training images, and no worse model without a yes."""

from __future__ import annotations

import logging

import pytest

from annotator.learning.models import ModelVersion, TrainingRun
from annotator.learning.training import retraining_check
from tests.annotator.learning.conftest import accept, add_images
from tests.annotator.learning.scenes import tiny_checkpoint


@pytest.fixture
def minimums(settings):
    settings.ANNOTATOR = {**settings.ANNOTATOR, "MIN_TRAINING_IMAGES": 4, "MIN_VAL_IMAGES": 2}


@pytest.mark.django_db
def test_a_run_with_too_few_training_images_is_refused_naming_the_numbers(
    minimums, project, users, client_for, base_checkpoint
):
    images = add_images(project, 24, val=2)  # 2 val, 22 train
    for image in images[:1] + images[2:5]:
        accept(image, users)  # 1 val, 3 train
    url = f"/api/v1/projects/{project.pk}/training-runs"
    refused = client_for("admin").post(url)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "not_enough_training_data"
    assert error["message"] == (
        "A training run needs at least 4 accepted images in the train split; "
        "this project has 3 (and 1 of the 2 needed in the val split)"
    )
    assert error["training_data"] == {
        "train": 3,
        "val": 1,
        "min_train": 4,
        "min_val": 2,
        "ready": False,
        "reason": error["message"],
    }
    registry = client_for("annotator").get(f"/api/v1/projects/{project.pk}/model-versions").json()
    assert registry["training_data"] == error["training_data"]  # what the UI shows by the disabled button

    accept(images[5], users)  # 4 train: now the val split is short
    refused = client_for("admin").post(url).json()["error"]
    assert refused["message"] == (
        "A training run needs at least 2 accepted images in the val split to compare the new model with "
        "the current one; this project has 1 (train split: 4)"
    )
    accept(images[1], users)
    assert client_for("admin").post(url).status_code == 202
    assert TrainingRun.objects.filter(project=project).count() == 1


@pytest.mark.django_db
def test_the_periodic_trigger_skips_a_project_with_too_few_images_and_logs_why(
    minimums, project, users, base_checkpoint, caplog
):
    project.retrain_threshold = 2
    project.save()
    images = add_images(project, 24, val=2)
    for image in images[2:5]:
        accept(image, users)  # 3 accepted since the last run (threshold 2), but no val image
    with caplog.at_level(logging.WARNING, logger="annotator.learning.training"):
        assert retraining_check() == []
    assert not TrainingRun.objects.exists()
    skipped = [r.getMessage() for r in caplog.records if "retraining check skipped" in r.getMessage()]
    assert skipped == [
        f"retraining check skipped project {project.pk} (Warehouse A): A training run needs at least 4 "
        "accepted images in the train split; this project has 3 (and 0 of the 2 needed in the val split)"
    ]


def _versions(project, tmp_path, *, active_ap: float, candidate_ap: float, same_images: bool = True):
    active = ModelVersion.objects.create(
        project=project,
        name="warehouse-a-v1",
        checkpoint=str(tiny_checkpoint(tmp_path / "v1.pt", seed=1)),
        status=ModelVersion.Status.PROMOTED,
        metrics={"mask_ap": active_ap, "val": {"images": 6}},
    )
    project.active_model = active
    project.save()
    compared = {"version": active.pk, "name": active.name, "mask_ap": active_ap} if same_images else {}
    candidate = ModelVersion.objects.create(
        project=project,
        parent=active,
        name="warehouse-a-v2",
        checkpoint=str(tiny_checkpoint(tmp_path / "v2.pt", seed=2)),
        status=ModelVersion.Status.READY,
        metrics={"mask_ap": candidate_ap, "val": {"images": 8}, "compared_with": compared},
    )
    return active, candidate


@pytest.mark.django_db
def test_promoting_a_worse_model_needs_a_confirmation_showing_both_figures(
    project, client_for, base_checkpoint, tmp_path
):
    active, candidate = _versions(project, tmp_path, active_ap=0.512, candidate_ap=0.347)
    url = f"/api/v1/model-versions/{candidate.pk}/promote"
    refused = client_for("admin").post(url)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "worse_than_active"
    assert "warehouse-a-v2 has mask AP 0.347 on 8 val images" in error["message"]
    assert "warehouse-a-v1 has mask AP 0.512 on 8 val images and is in use" in error["message"]
    assert error["candidate"] == {
        "id": candidate.pk,
        "name": "warehouse-a-v2",
        "mask_ap": 0.347,
        "val_images": 8,
    }
    assert error["active"] == {"id": active.pk, "name": "warehouse-a-v1", "mask_ap": 0.512, "val_images": 8}
    project.refresh_from_db()
    assert project.active_model_id == active.pk

    assert client_for("admin").post(url, {"confirm_worse": False}, format="json").status_code == 409
    confirmed = client_for("admin").post(url, {"confirm_worse": True}, format="json")
    assert confirmed.status_code == 200, confirmed.json()
    project.refresh_from_db()
    candidate.refresh_from_db()
    assert project.active_model_id == candidate.pk
    assert "confirmed although worse on val" in candidate.data_summary["promotion"]

    # Back to v1, which was better on the images v2's run scored both on: no question asked.
    back = client_for("admin").post(f"/api/v1/model-versions/{active.pk}/promote")
    assert back.status_code == 200, back.json()


@pytest.mark.django_db
def test_a_better_model_or_one_without_val_figures_is_promoted_without_a_question(
    project, client_for, base_checkpoint, tmp_path
):
    _, better = _versions(project, tmp_path, active_ap=0.3, candidate_ap=0.4, same_images=False)
    assert client_for("admin").post(f"/api/v1/model-versions/{better.pk}/promote").status_code == 200
    unscored = ModelVersion.objects.create(
        project=project,
        name="warehouse-a-v3",
        checkpoint=better.checkpoint,
        status=ModelVersion.Status.READY,
        metrics={},
    )
    assert client_for("admin").post(f"/api/v1/model-versions/{unscored.pk}/promote").status_code == 200


@pytest.mark.django_db
def test_own_figures_are_compared_when_no_run_scored_both(project, client_for, base_checkpoint, tmp_path):
    active, candidate = _versions(project, tmp_path, active_ap=0.5, candidate_ap=0.4, same_images=False)
    error = client_for("admin").post(f"/api/v1/model-versions/{candidate.pk}/promote").json()["error"]
    assert (error["candidate"]["val_images"], error["active"]["val_images"]) == (8, 6)
    assert "warehouse-a-v1 has mask AP 0.500 on 6 val images" in error["message"]

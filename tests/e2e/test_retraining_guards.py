"""Retraining and upload guards in the browser (no worker needed): Start is off while too few images are accepted,
saying why, and promoting a model worse on val than the one in use asks first, showing both figures."""

from __future__ import annotations

from annotator.learning.models import ModelVersion
from tests.annotator.learning.scenes import tiny_checkpoint


def test_a_worse_version_is_promoted_only_after_the_admin_confirms(open_page, live_server, project, tmp_path):
    active = ModelVersion.objects.create(
        project=project,
        name="warehouse-a-v1",
        checkpoint=str(tiny_checkpoint(tmp_path / "v1.pt", seed=1)),
        status=ModelVersion.Status.PROMOTED,
        metrics={"mask_ap": 0.512, "val": {"images": 6}},
    )
    project.active_model = active
    project.save()
    worse = ModelVersion.objects.create(
        project=project,
        parent=active,
        name="warehouse-a-v2",
        checkpoint=str(tiny_checkpoint(tmp_path / "v2.pt", seed=2)),
        status=ModelVersion.Status.READY,
        metrics={
            "mask_ap": 0.347,
            "val": {"images": 6},
            "compared_with": {"version": active.pk, "name": active.name, "mask_ap": 0.512},
        },
    )
    page = open_page("alice_admin")
    page.goto(f"{live_server.url}/app/#/projects/{project.id}")
    promote = page.locator(f'tr[data-version-id="{worse.pk}"]').get_by_test_id("promote-version")

    promote.click()
    dialog = page.get_by_test_id("promote-confirm")
    dialog.wait_for()
    assert "warehouse-a-v2 is worse than warehouse-a-v1" in dialog.inner_text()
    assert dialog.get_by_test_id("confirm-figure").all_inner_texts() == [
        "warehouse-a-v2 (to promote): mask AP 0.347 on 6 val images",
        "warehouse-a-v1 (in use): mask AP 0.512 on 6 val images",
    ]
    page.keyboard.press("Escape")  # no: nothing changes
    dialog.wait_for(state="detached")
    project.refresh_from_db()
    assert project.active_model_id == active.pk
    assert page.get_by_test_id("active-model-name").inner_text() == "warehouse-a-v1"

    promote.click()
    page.get_by_test_id("promote-confirm").get_by_test_id("confirm-ok").click()
    page.get_by_test_id("active-model-name").filter(has_text="warehouse-a-v2").wait_for()
    project.refresh_from_db()
    assert project.active_model_id == worse.pk


def test_the_start_button_is_off_and_says_why_while_too_few_images_are_accepted(
    open_page, live_server, project, settings
):
    settings.ANNOTATOR = {**settings.ANNOTATOR, "MIN_TRAINING_IMAGES": 10, "MIN_VAL_IMAGES": 2}
    page = open_page("alice_admin")
    page.goto(f"{live_server.url}/app/#/projects/{project.id}")
    why = page.get_by_test_id("training-blocked")
    why.wait_for()
    assert why.inner_text() == (
        "Cannot start a run yet: A training run needs at least 10 accepted images in the train split; "
        "this project has 0 (and 0 of the 2 needed in the val split)"
    )
    start = page.get_by_test_id("retrain-button")
    assert start.is_disabled() and start.get_attribute("title").startswith("A training run needs at least 10")


def test_an_annotator_sees_the_upload_box_only_where_the_project_allows_annotators_to_upload(
    open_page, live_server, project
):
    page = open_page("andy_annotator")
    page.goto(f"{live_server.url}/app/#/projects/{project.id}")
    refused = page.get_by_test_id("upload-not-allowed")
    refused.wait_for()
    assert "Annotators cannot upload to this project" in refused.inner_text()
    assert page.get_by_test_id("upload-input").count() == 0

    project.annotators_can_upload = True
    project.save(update_fields=["annotators_can_upload"])
    page.reload()
    page.get_by_test_id("upload-input").wait_for(state="attached")
    assert page.get_by_test_id("upload-not-allowed").count() == 0

"""The learning loop on the dashboard, in a real Chromium against a live server and a real worker:
an admin changes the loop's settings and the taxonomy mapping (previewed before saving), starts a
training run from the UI, watches its progress, sees the model registry and the acceptance plot,
promotes or rolls back, cancels a second run (the active model stays as it was), and rebases on a
newer universal base from its banner.

Real rows throughout: a tiny universal checkpoint as the shipped base, 64 px scenes uploaded the
way ingest stores them, pre-labels from that base, accepted through the review services. The
worker's run is capped by ``ANNOTATOR_TRAINING_BUDGET_SECONDS`` so it finishes in seconds.
"""

from __future__ import annotations

import re

import pytest

from annotator.learning.models import ModelVersion, TrainingRun, TrustGatePin
from annotator.learning.services import image_predict
from annotator.universal.training import base_version_promote
from tests.annotator.learning.conftest import accept, add_images
from tests.annotator.learning.scenes import tiny_checkpoint
from tests.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TRAINING_BUDGET_SECONDS = 8
RUN_TIMEOUT_MS = 240_000


@pytest.fixture
def learning_worker(request, tmp_path, settings, monkeypatch):
    """A worker that sees a tiny shipped base and trains for a few seconds per run."""
    checkpoint = tiny_checkpoint(tmp_path / "base.pt", seed=0)
    settings.ANNOTATOR = {**settings.ANNOTATOR, "UNIVERSAL_CHECKPOINT": str(checkpoint)}
    monkeypatch.setenv("UNIVERSAL_CHECKPOINT", str(checkpoint))
    monkeypatch.setenv("ANNOTATOR_TRAINING_BUDGET_SECONDS", str(TRAINING_BUDGET_SECONDS))
    monkeypatch.setenv("ANNOTATOR_TRAINING_EPOCHS", "0")  # the budget ends the run, not an epoch count
    monkeypatch.setenv("ANNOTATOR_TRAINING_LR", "0.003")
    monkeypatch.setenv("ANNOTATOR_TRAINING_THREADS", "1")
    return request.getfixturevalue("celery_worker")


def accepted_project(project, users):
    """24 scenes (the first 20 form the fixed val split); 2 val + 3 train pre-labelled by the base, then accepted."""
    images = add_images(project, 24)
    chosen = images[:2] + images[20:23]
    # The tiny base is uncalibrated, so the trust gate would offer its shapes as suggestions; pinned to
    # pre-labels (threshold 0: every shape) the acceptance plot has the base's pre-labels to measure.
    # Both are pinned: the gate's first computation (queued by the first prediction, run by the worker)
    # then shows the same shapes, so the worker never re-shows an image this loop is about to save.
    TrustGatePin.objects.create(project=project, mode="prelabel", threshold=0.0)
    for image in chosen:
        assert image_predict(image=image) is not None, "the tiny base pre-labels"
        accept(image, users)
    return chosen


def test_admin_trains_from_the_dashboard_and_sees_the_registry(
    open_page, live_server, users, project, learning_worker, tmp_path
):
    accepted_project(project, users)
    page = open_page("alice_admin")
    page.goto(f"{live_server.url}/app/#/projects/{project.id}")

    # --- before any run: no versions, the base pre-labelled the accepted images (one plot point) ---
    registry = page.get_by_test_id("model-registry")
    registry.get_by_text("No project model versions yet").wait_for()
    assert page.get_by_test_id("active-model-name").inner_text() == "universal-base-v1"
    plot = page.get_by_test_id("acceptance-plot")
    plot.wait_for()
    assert plot.locator("circle").count() == 2  # IoU and unchanged share for the base version
    assert "universal-base-v1" in plot.get_attribute("aria-label")

    # --- settings panel: change the threshold; a bad value shows the API's field error ---------------
    page.get_by_test_id("setting-retrain-threshold").fill("0")
    page.get_by_test_id("settings-save").click()
    page.get_by_test_id("settings-status").filter(has_text="retrain_threshold").wait_for()
    page.get_by_test_id("setting-retrain-threshold").fill("7")
    page.get_by_test_id("setting-queue-strategy").select_option("uncertainty")
    page.get_by_test_id("settings-save").click()
    page.get_by_test_id("settings-status").filter(has_text="Saved.").wait_for()
    project.refresh_from_db()
    assert (project.retrain_threshold, project.queue_strategy) == (7, "uncertainty")

    # contribution opt-in: who and when come back from the server
    page.get_by_test_id("setting-contribute").check()
    page.get_by_test_id("settings-save").click()
    page.get_by_test_id("contribution-note").filter(has_text="Last changed by alice_admin").wait_for()
    project.refresh_from_db()
    assert project.contribute_to_universal and project.contribution_changed_by == users["admin"]

    # --- taxonomy mapping: the effect is shown before saving is possible ---------------------------
    item = project.categories.get(name="item")
    select = page.locator(f'[data-testid="mapping-select"][data-category-id="{item.pk}"]')
    assert select.input_value() == "item"
    save_mapping = page.get_by_test_id("taxonomy-save")
    select.select_option("")  # project-only
    assert save_mapping.is_disabled(), "no save before the preview"
    page.get_by_test_id("taxonomy-preview-button").click()
    page.get_by_test_id("taxonomy-preview").filter(has_text="Project-only: item").wait_for()
    item.refresh_from_db()
    assert item.universal_name == "item", "a preview is a dry run"
    save_mapping.click()
    page.get_by_test_id("taxonomy-status").filter(has_text="Mapping saved.").wait_for()
    item.refresh_from_db()
    assert item.universal_name == ""

    # --- start a run from the keyboard: Tab to the button, Enter ---------------------------------
    start = page.get_by_test_id("retrain-button")
    start.focus()
    page.keyboard.press("Enter")
    run_el = page.get_by_test_id("training-run")
    run_el.locator("[data-status]").first.wait_for()
    run = wait_for(lambda: TrainingRun.objects.filter(project=project).first(), what="the run row")
    assert run.trigger == "manual" and run.requested_by == users["admin"]
    assert start.is_disabled(), "one run per project: the start button waits for the run"

    # progress: epoch, loss and a bar while it runs, with Cancel for the admin
    run_el.locator('[data-status="running"] [data-testid="run-detail"]').filter(
        has_text=re.compile(r"epoch \d+/\d+ · loss \d")
    ).wait_for(timeout=RUN_TIMEOUT_MS)
    assert page.get_by_test_id("cancel-training").is_visible()
    page.screenshot(path=str(tmp_path / "learning-training.png"), full_page=True)

    # --- the run ends; its version shows in the registry with its val mask AP ------------------------
    run_el.locator('[data-status="succeeded"]').wait_for(timeout=RUN_TIMEOUT_MS)
    run.refresh_from_db()
    version = ModelVersion.objects.get(project=project)
    assert run.result_version == version
    row = registry.locator(f'tr[data-version-id="{version.pk}"]')
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    assert cells[0].startswith(version.name)
    assert cells[1] == ("promoted" if version.status == "promoted" else "not promoted")
    assert cells[2] == f"{version.metrics['mask_ap']:.3f}"
    assert cells[3] == "universal-base-v1"
    assert page.get_by_test_id("cancel-training").count() == 0

    # --- promote by hand (or roll back if the gate promoted it): re-scoring shows its progress -------
    if version.status == ModelVersion.Status.PROMOTED:
        page.get_by_test_id("rollback-model").click()
        page.get_by_test_id("active-model-name").filter(has_text="universal-base-v1").wait_for()
        row.get_by_test_id("promote-version").wait_for()
        project.refresh_from_db()
        assert project.active_model is None
    else:
        row.get_by_test_id("promote-version").click()
        compared = version.metrics["compared_with"]
        if version.metrics["mask_ap"] < compared["mask_ap"]:  # worse on val: a confirmation with both figures
            dialog = page.get_by_test_id("promote-confirm")
            dialog.wait_for()
            assert dialog.get_by_test_id("confirm-figure").all_inner_texts() == [
                f"{version.name} (to promote): mask AP {version.metrics['mask_ap']:.3f} on 2 val images",
                f"{compared['name']} (in use): mask AP {compared['mask_ap']:.3f} on 2 val images",
            ]
            dialog.get_by_test_id("confirm-ok").click()
        page.get_by_test_id("active-model-name").filter(has_text=version.name).wait_for()
        page.get_by_test_id("rollback-model").wait_for()
        project.refresh_from_db()
        assert project.active_model == version
    page.get_by_test_id("rescore-status").filter(has_text="Re-scoring after promotion").wait_for()
    active_before = project.active_model_id
    page.screenshot(path=str(tmp_path / "learning-registry.png"), full_page=True)

    # --- a second run, cancelled from the UI: the active model is untouched ------------------------
    start.click()
    second = wait_for(
        lambda: TrainingRun.objects.filter(project=project).exclude(pk=run.pk).first(), what="the second run"
    )
    page.locator(f'[data-run-id="{second.pk}"]').wait_for()
    # A second start while one is active: the API's 409 is shown (T is the dashboard's shortcut).
    page.locator("body").press("t")
    page.get_by_test_id("learning-error").filter(has_text="one run per project").wait_for()
    page.get_by_test_id("cancel-training").click()
    run_el.locator(f'[data-run-id="{second.pk}"][data-status="cancelled"]').wait_for(timeout=RUN_TIMEOUT_MS)
    second.refresh_from_db()
    project.refresh_from_db()
    assert second.status == "cancelled" and second.cancel_requested
    assert project.active_model_id == active_before
    assert not start.is_disabled()

    # --- a newer universal base is promoted: the banner shows its figures; Rebase starts a run -----
    base_v1 = ModelVersion.objects.get(project=None, name="universal-base-v1")
    base_v2 = ModelVersion.objects.create(
        project=None,
        parent=base_v1,
        name="universal-base-v2",
        checkpoint=str(tiny_checkpoint(tmp_path / "base-v2.pt", seed=1)),
        status=ModelVersion.Status.READY,
    )
    base_version_promote(
        version=base_v2, reason="e2e"
    )  # the worker then scores it on this project's val split
    banner = page.get_by_test_id("base-update")
    banner.filter(has_text="A newer base model is available: universal-base-v2").wait_for()
    banner.filter(
        has_text=re.compile(r"universal-base-v2: mask AP \d\.\d{3} on your val split \(2 images\)")
    ).wait_for(timeout=RUN_TIMEOUT_MS)
    page.get_by_test_id("rebase-button").click()
    rebase = wait_for(
        lambda: TrainingRun.objects.filter(project=project, trigger="rebase").first(), what="the rebase run"
    )
    assert rebase.base_version == base_v2
    page.locator(f'[data-run-id="{rebase.pk}"]').wait_for()
    page.get_by_test_id("cancel-training").click()
    run_el.locator(f'[data-run-id="{rebase.pk}"][data-status="cancelled"]').wait_for(timeout=RUN_TIMEOUT_MS)

"""Taxonomy preview and save, contribution, the base-run lock and triggers, through services and the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotator.errors import ConflictError
from annotator.jobs.models import JobStatus
from annotator.jobs.schedule import periodic_task_ensure
from annotator.learning.adapters import training as training_adapter
from annotator.learning.models import TrainingRun
from annotator.learning.runs import run_start
from annotator.learning.training import training_run_cancel
from annotator.universal.models import BaseEvaluation
from annotator.universal.selectors import base_training_images, contributed_since_last_base_run
from annotator.universal.training import base_retrain_check, base_run_execute, base_run_request
from tests.annotator.learning.conftest import accept, add_images
from tests.annotator.universal.conftest import opt_in, team_project


@pytest.fixture
def north(users):
    return team_project(users, "North DC", ["carton", "poly_bag", "pallet_wrap"])


def _ids(project) -> dict[str, int]:
    return {c.name: c.id for c in project.categories.all()}


@pytest.mark.django_db
def test_taxonomy_dry_run_shows_the_effect_and_saves_nothing(north, users, client_for, envelope_base):
    images = add_images(north, 24)
    accept(images[0], users, category_name="carton")  # val split
    accept(images[21], users, category_name="carton")  # train split
    accept(images[22], users, category_name="pallet_wrap")
    ids, url = _ids(north), f"/api/v1/projects/{north.pk}/taxonomy"
    per_image = {i.pk: len(i.squares) for i in images}

    before = client_for("annotator").get(url).json()
    assert before["universal_names"] == ["cardboard_box", "padded_mailer", "plastic_bag", "envelope", "item"]
    assert {p["name"] for p in before["project_only"]} == {"carton", "poly_bag", "pallet_wrap"}

    mapping = {
        str(ids["carton"]): "cardboard_box",
        str(ids["poly_bag"]): "plastic_bag",
        str(ids["pallet_wrap"]): "",
    }
    preview = client_for("admin").put(url, {"mapping": mapping, "dry_run": True}, format="json").json()
    assert preview["saved"] is False
    assert preview["universal"]["cardboard_box"] == {
        "train": per_image[images[21].pk],
        "val": per_image[images[0].pk],
        "categories": ["carton"],
    }
    assert [p["name"] for p in preview["project_only"]] == ["pallet_wrap"]
    assert preview["annotations_left_out"] == per_image[images[22].pk]
    assert next(c for c in preview["categories"] if c["name"] == "carton")["changed"] is True
    assert north.categories.get(name="carton").universal_name == ""  # nothing saved

    assert client_for("reviewer").put(url, {"mapping": mapping}, format="json").status_code == 403
    saved = client_for("admin").put(url, {"mapping": mapping}, format="json").json()
    assert saved["saved"] is True and saved["universal"]["cardboard_box"]["categories"] == ["carton"]
    assert north.categories.get(name="carton").universal_name == "cardboard_box"
    assert client_for("annotator").get(url).json()["universal"] == saved["universal"]

    bad = client_for("admin").put(url, {"mapping": {str(ids["poly_bag"]): "forklift"}}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "mapping"
    assert "poly_bag" in bad.json()["error"]["message"]


@pytest.mark.django_db
def test_contribution_is_set_by_admins_and_records_who_and_when(north, users, client_for):
    url = f"/api/v1/projects/{north.pk}/contribution"
    assert client_for("reviewer").put(url, {"contribute": True}, format="json").status_code == 403
    assert client_for("outsider").get(url).status_code == 404
    body = client_for("admin").put(url, {"contribute": True}, format="json").json()
    assert body["contribute"] is True and body["changed_by"] == "alice_admin" and body["changed_at"]
    north.refresh_from_db()
    assert north.contribute_to_universal and north.contribution_changed_by == users["admin"]


@pytest.mark.django_db
def test_only_contributing_projects_feed_the_base_and_only_their_train_split(north, users):
    images = add_images(north, 23)
    for image in (images[0], images[20], images[21]):
        accept(image, users, category_name="carton")
    assert base_training_images().count() == 0
    north.contribute_to_universal = True
    north.save()
    assert sorted(base_training_images().values_list("id", flat=True)) == [images[20].pk, images[21].pk]


@pytest.mark.django_db
def test_one_base_run_at_a_time_and_only_staff_start_one(users, client_for, envelope_base):
    url = "/api/v1/universal/base-runs"
    assert client_for("admin").post(url).status_code == 403  # a project admin is not staff
    users["admin"].is_staff = True
    users["admin"].save()
    first = client_for("admin").post(url)
    assert first.status_code == 202 and first.json()["project"] is None
    again = client_for("admin").post(url)
    assert again.status_code == 409 and again.json()["error"]["code"] == "base_training_in_progress"
    assert again.json()["error"]["training_run"] == first.json()["id"]
    cancelled = client_for("admin").post(f"{url}/{first.json()['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert client_for("admin").post(url).status_code == 202  # the lock is free again


@pytest.mark.django_db
def test_enough_new_contributed_images_trigger_a_base_run(north, users, envelope_base, settings):
    settings.ANNOTATOR = {**settings.ANNOTATOR, "UNIVERSAL_NEW_IMAGES_THRESHOLD": 2}
    north.contribute_to_universal = True
    north.save()
    images = add_images(north, 24)
    accept(images[20], users, category_name="carton")
    assert contributed_since_last_base_run() == 1 and base_retrain_check() is None
    accept(images[21], users, category_name="carton")
    run = base_retrain_check()
    assert run is not None and run.trigger == "schedule" and run.status == JobStatus.PENDING
    assert base_retrain_check() is None  # nothing new since that run
    with pytest.raises(ConflictError):
        base_run_request()
    training_run_cancel(run=run)
    accept(images[22], users, category_name="carton")
    accept(images[23], users, category_name="carton")
    assert base_retrain_check() is not None
    assert TrainingRun.objects.filter(project__isnull=True).count() == 2


@pytest.mark.django_db
def test_base_schedule_is_a_periodic_task():
    task = periodic_task_ensure(key="base-retraining")
    assert task.task == "annotator.universal.tasks.check_base_retraining" and task.enabled
    assert task.interval.every == 6 * 60 * 60  # UNIVERSAL_SCHEDULE_SECONDS
    assert periodic_task_ensure(key="base-retraining").pk == task.pk
    assert periodic_task_ensure(key="base-retraining", every_seconds=60).interval.every == 60


@pytest.mark.django_db
def test_the_gate_reuses_the_blend_searchs_figures_for_the_candidate(
    users, client_for, envelope_base, fast_base_env, monkeypatch
):
    fast_base_env(ANNOTATOR_UNIVERSAL_EPOCHS="2", ANNOTATOR_UNIVERSAL_BLEND_GRID="2")
    project = team_project(users, "East DC", ["carton"])
    opt_in(client_for("admin"), project, {"carton": "cardboard_box"})
    images = add_images(project, 22)
    for image in (images[0], images[20], images[21]):  # one val image (the first 20 fill val), two train
        accept(image, users, category_name="carton")
    evaluated: list[str] = []
    evaluate = training_adapter.evaluate

    def counted(*, checkpoint, split):  # the real evaluation, with a record of which checkpoint it scored
        evaluated.append(Path(checkpoint).name)
        return evaluate(checkpoint=checkpoint, split=split)

    monkeypatch.setattr(training_adapter, "evaluate", counted)
    run = run_start(run_id=base_run_request(user=users["admin"]).pk)
    current = Path(run.base_version.checkpoint).name  # the shipped base, as registered
    run = base_run_execute(run=run)
    assert run.status == JobStatus.SUCCEEDED, run.message
    # two sets (synthetic held-out, East's val): each blend tried once on each, the current base once on each
    assert sorted(evaluated) == sorted(["model_blend_0.5.pt", "model.pt", current] * 2)
    assert "blended.pt" not in evaluated  # the chosen blend's figures come from the search
    chosen = run.report["blend"]
    candidate = {r["name"]: r["candidate"] for r in run.report["rows"]}
    assert sum(candidate.values()) / 2 == pytest.approx(chosen["means"][f"{chosen['alpha']:g}"], abs=1e-4)
    stored = BaseEvaluation.objects.filter(run=run, version=run.result_version)
    assert stored.count() == 2 and all(e.metrics.get("images") for e in stored)  # full figures, not just AP

"""The fleet loop end to end through a real Celery worker: opt in, base run, gate, promotion, rebase."""

from __future__ import annotations

import pytest

from annotator.jobs.models import JobStatus
from annotator.learning.models import ModelVersion, TrainingRun
from annotator.learning.services import base_model_version
from annotator.projects.models import Image, ImageStatus
from annotator.universal.models import BaseEvaluation
from ml.universal.checkpoint import load_checkpoint
from tests.annotator.learning.conftest import accept, add_images
from tests.annotator.universal.conftest import base_names, opt_in, team_project, wait_finished

SEEDS = {
    "North DC": 1000,
    "South DC": 2000,
    "Flats site": 3000,
    "Boxes site": 4000,
    "East DC": 5000,
    "West DC": 6000,
}


def _accepted(project, users, *, val: int, train: int, category: str) -> tuple[list[int], list[int]]:
    """Images with squares accepted in ``category``: ``val`` of the val split and ``train`` of the train split."""
    # Seeds from the project's name, not its pk: pks differ between SQLite and PostgreSQL runs,
    # and the test must train on the same images on every backend.
    images = add_images(project, 20 + train, first_seed=SEEDS[project.name])
    val_images = [i for i in images if i.split == Image.Split.VAL][:val]
    train_images = [i for i in images if i.split == Image.Split.TRAIN][:train]
    for image in val_images + train_images:
        accept(image, users, category_name=category)
    # The rest only exist to fill the fixed val split first; deleted, they are not re-scored after promotions.
    project.images.filter(status=ImageStatus.NEW).delete()
    return [i.pk for i in val_images], [i.pk for i in train_images]


def _start_base_run(client_for, users) -> int:
    users["admin"].is_staff = True
    users["admin"].save()
    started = client_for("admin").post("/api/v1/universal/base-runs")
    assert started.status_code == 202, started.json()
    return started.json()["id"]


@pytest.mark.django_db(transaction=True)
def test_two_projects_opt_in_base_run_promotes_and_each_project_rebases(
    users, client_for, envelope_base, fast_base_env, celery_worker
):
    north = team_project(users, "North DC", ["carton", "poly_bag", "pallet_wrap"])
    south = team_project(users, "South DC", ["box", "sack"])
    opt_in(
        client_for("admin"), north, {"carton": "cardboard_box", "poly_bag": "plastic_bag", "pallet_wrap": ""}
    )
    opt_in(client_for("admin"), south, {"box": "cardboard_box", "sack": "plastic_bag"})
    _, north_train = _accepted(north, users, val=4, train=6, category="carton")
    _, south_train = _accepted(south, users, val=4, train=6, category="box")
    v1 = base_model_version()

    run = wait_finished(_start_base_run(client_for, users), celery_worker)
    assert run.status == JobStatus.SUCCEEDED, run.message
    report = run.report
    rows = {row["name"]: row for row in report["rows"]}
    assert set(rows) == {"synthetic held-out", "North DC", "South DC"}
    assert {rows["North DC"]["images"], rows["South DC"]["images"]} == {4}
    # The shipped base calls the squares envelopes; the candidate learnt the boxes both projects mapped.
    assert rows["North DC"]["candidate"] > rows["North DC"]["current"]
    assert rows["South DC"]["candidate"] > rows["South DC"]["current"]
    assert report["decision"] == "promoted" and report["regressions"] == []
    # The candidate is the retrained base averaged with v1 at the alpha with the best mean over the gate's sets.
    blend = report["blend"]
    assert set(blend["means"]) == {"0.25", "0.5", "0.75", "1"}
    assert blend["means"][f"{blend['alpha']:g}"] == max(blend["means"].values())
    assert abs(blend["means"][f"{blend['alpha']:g}"] - report["mean_candidate"]) < 1e-3  # the gate scored it
    v2 = base_model_version()
    assert load_checkpoint(v2.checkpoint)[1]["blend"]["alpha"] == blend["alpha"]
    assert load_checkpoint(v2.checkpoint)[1]["blend"]["previous"] == v1.checkpoint
    assert v2.pk == run.result_version_id and v2.parent_id == v1.pk and v2.name == "universal-base-v2"
    assert ModelVersion.objects.get(pk=v1.pk).status == ModelVersion.Status.ARCHIVED
    assert sorted(v2.training_images) == sorted(north_train + south_train)
    assert v2.data_summary["projects"][str(north.pk)]["images"] == 6
    assert v2.data_summary["projects"][str(south.pk)]["per_category"] == {
        "cardboard_box": v2.data_summary["projects"][str(south.pk)]["annotations"]
    }

    for project in (north, south):
        notice = client_for("reviewer").get(f"/api/v1/projects/{project.pk}/base-update").json()
        assert notice["available"] is True and notice["base"]["name"] == "universal-base-v2"
        gate_row = next(r for r in report["rows"] if r["project"] == project.pk)
        assert notice["base"]["mask_ap_on_your_val"] == gate_row["candidate"]
        assert (
            notice["current"]["name"] == v1.name
            and notice["current"]["mask_ap_on_your_val"] == gate_row["current"]
        )
        assert client_for("reviewer").post(f"/api/v1/projects/{project.pk}/rebase").status_code == 403
        rebase = client_for("admin").post(f"/api/v1/projects/{project.pk}/rebase")
        assert rebase.status_code == 202, rebase.json()
        assert rebase.json()["trigger"] == "rebase" and rebase.json()["base_version"] == v2.pk

    for project in (north, south):
        rebase_run = wait_finished(
            TrainingRun.objects.get(project=project, trigger="rebase").pk, celery_worker
        )
        assert rebase_run.status == JobStatus.SUCCEEDED, rebase_run.message
        version = rebase_run.result_version
        assert version.parent_id == v2.pk  # the lineage tree: base v1 -> base v2 -> project fine-tune
        promoted = rebase_run.report["candidate"]["mask_ap"] > rebase_run.report["current"]["mask_ap"]
        assert rebase_run.report["decision"] == ("promoted" if promoted else "not promoted")
        project.refresh_from_db()
        assert (project.active_model_id == version.pk) is promoted
        assert (
            client_for("admin").get(f"/api/v1/projects/{project.pk}/base-update").json()["available"] is False
        )
    lineage = client_for("admin").get("/api/v1/universal/base-versions").json()
    by_name = {v["name"]: v for v in lineage["versions"]}
    assert {v["project"] for v in by_name["universal-base-v2"]["project_versions"]} == {north.pk, south.pk}


@pytest.fixture
def unblended_base_env(fast_base_env):
    """Base runs whose candidate is the retrained base as it is (no averaging with the current base). Ask for it
    before ``celery_worker``: the worker reads its settings from the environment when it starts."""
    fast_base_env(ANNOTATOR_UNIVERSAL_BLEND_GRID="1")


@pytest.mark.django_db(transaction=True)
def test_a_regression_on_one_project_blocks_the_promotion_and_the_report_names_it(
    users, client_for, box_base, unblended_base_env, celery_worker
):
    # The retrained base as it is. Averaged with the current base, this very candidate was promoted instead:
    # alpha 0.25 kept Boxes site's squares (0.75 -> 0.85 mask AP), so the gate had nothing to block.
    assert box_base[1] > 0.3  # the current base already finds the squares as cardboard boxes
    v1 = base_model_version()
    # Flats maps its squares to 'envelope' and contributes many of them; Boxes only has val images.
    flats = team_project(users, "Flats site", ["flat"])
    boxes = team_project(users, "Boxes site", ["box"])
    opt_in(client_for("admin"), flats, {"flat": "envelope"})
    opt_in(client_for("admin"), boxes, {"box": "cardboard_box"})
    _accepted(flats, users, val=4, train=12, category="flat")
    _accepted(boxes, users, val=4, train=0, category="box")

    run = wait_finished(_start_base_run(client_for, users), celery_worker)
    assert run.status == JobStatus.SUCCEEDED, run.message
    rows = {row["name"]: row for row in run.report["rows"]}
    assert rows["Boxes site"]["regressed"] is True
    assert rows["Boxes site"]["candidate"] < rows["Boxes site"]["current"] - 0.05
    assert rows["Flats site"]["regressed"] is False
    assert run.report["decision"] == "not promoted" and run.report["regressions"] == ["Boxes site"]
    assert run.report["blend"] is None
    assert base_model_version().pk == v1.pk
    assert ModelVersion.objects.get(pk=run.result_version_id).status == ModelVersion.Status.READY
    detail = client_for("admin").get(f"/api/v1/universal/base-runs/{run.pk}").json()
    assert [r["name"] for r in detail["report"]["rows"] if r["regressed"]] == ["Boxes site"]
    assert BaseEvaluation.objects.filter(run=run, project=boxes).count() == 2  # candidate and current


@pytest.fixture
def one_epoch_base_env(fast_base_env):
    """Base runs of one epoch: the test checks whose images trained, not what the model learned. Ask for it
    before ``celery_worker``: the worker reads its settings from the environment when it starts."""
    fast_base_env(ANNOTATOR_UNIVERSAL_EPOCHS="1")


@pytest.mark.django_db(transaction=True)
def test_opting_out_removes_a_project_from_the_next_base_run(
    users, client_for, envelope_base, one_epoch_base_env, celery_worker
):
    east = team_project(users, "East DC", ["carton"])
    west = team_project(users, "West DC", ["parcel"])
    opt_in(client_for("admin"), east, {"carton": "cardboard_box"})
    opt_in(client_for("admin"), west, {"parcel": "cardboard_box"})
    _, east_train = _accepted(east, users, val=2, train=3, category="carton")
    _, west_train = _accepted(west, users, val=2, train=3, category="parcel")

    first = wait_finished(_start_base_run(client_for, users), celery_worker)
    assert first.status == JobStatus.SUCCEEDED, first.message
    assert sorted(first.result_version.training_images) == sorted(east_train + west_train)

    out = client_for("admin").put(
        f"/api/v1/projects/{east.pk}/contribution", {"contribute": False}, format="json"
    )
    assert out.status_code == 200
    assert out.json()["contribute"] is False and out.json()["changed_by"] == "alice_admin"
    assert out.json()["next_run_images"] == 0
    assert [v["name"] for v in out.json()["used_by_base_versions"]] == [first.result_version.name]

    second = wait_finished(_start_base_run(client_for, users), celery_worker)
    assert second.status == JobStatus.SUCCEEDED, second.message
    assert sorted(second.result_version.training_images) == sorted(west_train)
    assert set(second.result_version.data_summary["projects"]) == {str(west.pk)}
    assert {r["project"] for r in second.report["rows"]} == {None, west.pk}  # East's val no longer gates
    first.result_version.refresh_from_db()  # the version trained before keeps its record
    assert sorted(first.result_version.training_images) == sorted(east_train + west_train)
    assert set(first.result_version.data_summary["projects"]) == {str(east.pk), str(west.pk)}
    assert len(base_names()) == 3
    assert Image.objects.filter(pk__in=east_train, status=ImageStatus.ACCEPTED).count() == 3

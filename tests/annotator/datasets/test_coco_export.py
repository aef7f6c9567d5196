"""COCO export: pycocotools reads it, masks match, ids and names are stable, filters, API, a real worker."""

import io
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone
from pycocotools.coco import COCO

from annotator.annotations.models import Annotation
from annotator.datasets.models import ExportJob
from annotator.learning.models import ModelVersion, Prediction
from annotator.projects.models import Image
from ml import geometry
from tests.conftest import wait_for

from .coco_helpers import HOLED, TRIANGLE, categories, read_export, run_export, sample_project_data


def load_coco(tmp_path, coco) -> COCO:
    import json

    path = tmp_path / "instances.json"
    path.write_text(json.dumps(coco))
    return COCO(str(path))


@pytest.mark.django_db
@pytest.mark.parametrize("segmentation", ["polygons", "rle"])
def test_coco_export_loads_in_pycocotools_and_every_mask_matches(project, users, tmp_path, segmentation):
    admin = users["admin"]
    accepted = sample_project_data(project, admin)

    job = run_export(project, users["reviewer"], segmentation=segmentation)
    coco_dict, members = read_export(job)
    coco = load_coco(tmp_path, coco_dict)

    assert sorted(coco.getImgIds()) == sorted(img.id for img in accepted)
    assert [c["id"] for c in coco_dict["categories"]] == [
        c.export_id for c in project.categories.order_by("export_id")
    ]
    stored = {
        a.id: a for a in Annotation.objects.filter(image__in=accepted).select_related("image", "category")
    }
    assert sorted(coco.getAnnIds()) == sorted(stored)
    for ann_id, annotation in stored.items():
        ann = coco.loadAnns(ann_id)[0]
        image = annotation.image
        assert ann["image_id"] == image.id and ann["category_id"] == annotation.category.export_id
        assert ann["iscrowd"] == 0
        expected = geometry.shape_to_mask(annotation.shape, image.height, image.width)
        got = coco.annToMask(ann).astype(bool)
        assert geometry.mask_iou(got, expected) >= 0.99, ann_id
        assert ann["area"] == pytest.approx(geometry.shape_area(annotation.shape), abs=0.011)
        assert ann["bbox"] == geometry.shape_bbox(annotation.shape)
        if segmentation == "rle" or geometry.shape_has_holes(annotation.shape):
            assert isinstance(ann["segmentation"], dict)
        else:
            assert isinstance(ann["segmentation"], list)
    holed = next(a for a in coco_dict["annotations"] if a["bbox"] == geometry.shape_bbox(HOLED))
    assert ("multipolygon" in holed) == (segmentation == "polygons")
    for img in coco_dict["images"]:
        assert img["file_name"] in members, img["file_name"]
        assert not img["file_name"].startswith(("projects/", "/")) and "media" not in img["file_name"]
        stored_image = Image.objects.get(pk=img["id"])
        with stored_image.file.open("rb") as fp:
            assert members[img["file_name"]] == fp.read()
    assert {img["file_name"] for img in coco_dict["images"]} == {
        "images/scene_1.png",
        "images/scene_2.png",
        "images/scene_3.png",
    }
    assert job.summary["images"] == 3 and job.summary["annotations"] == 5


@pytest.mark.django_db
def test_coco_export_ids_stay_stable_and_duplicate_names_stay_unique(project, users):
    admin = users["admin"]
    cats = categories(project)
    from .coco_helpers import accept_image, add_image

    first = accept_image(
        add_image(project, admin, seed=10, name="a/cam.png"),
        admin,
        [{"category": cats["item"].id, "shape": TRIANGLE}],
    )
    second = accept_image(
        add_image(project, admin, seed=11, name="b/cam.png"),
        admin,
        [{"category": cats["item"].id, "shape": TRIANGLE}],
    )
    one, _ = read_export(run_export(project, admin))
    cats["envelope"].delete()  # another category disappears; ids of the rest do not move
    two, _ = read_export(run_export(project, admin))

    assert [(i["id"], i["file_name"]) for i in one["images"]] == [
        (first.id, "images/cam.png"),
        (second.id, f"images/cam~{second.id}.png"),
    ]
    assert [(i["id"], i["file_name"]) for i in two["images"]] == [
        (i["id"], i["file_name"]) for i in one["images"]
    ]
    assert [a["id"] for a in two["annotations"]] == [a["id"] for a in one["annotations"]]
    assert {c["name"]: c["id"] for c in two["categories"]} == {
        c["name"]: c["id"] for c in one["categories"] if c["name"] != "envelope"
    }


@pytest.mark.django_db
def test_coco_export_filters_by_status_split_category_and_date(project, users):
    admin = users["admin"]
    accepted = sample_project_data(project, admin)
    cats = categories(project)
    Image.objects.filter(project=project).update(split="train")
    Image.objects.filter(pk=accepted[0].pk).update(split="val")
    Image.objects.filter(pk=accepted[1].pk).update(
        split="train", status_changed_at=timezone.now() - timedelta(days=10)
    )

    val, _ = read_export(run_export(project, admin, split="val", include_images=False))
    assert [i["id"] for i in val["images"]] == [accepted[0].id]

    boxes, _ = read_export(
        run_export(project, admin, category_ids=[cats["cardboard_box"].id], include_images=False)
    )
    assert [c["name"] for c in boxes["categories"]] == ["cardboard_box"]
    assert {a["category_id"] for a in boxes["annotations"]} == {cats["cardboard_box"].export_id}
    assert len(boxes["annotations"]) == 2

    recent, _ = read_export(
        run_export(project, admin, date_from=timezone.now() - timedelta(days=1), include_images=False)
    )
    assert sorted(i["id"] for i in recent["images"]) == sorted([accepted[0].id, accepted[2].id])

    everything, _ = read_export(
        run_export(project, admin, statuses=["accepted", "new"], include_images=False)
    )
    assert len(everything["images"]) == 4


@pytest.mark.django_db
def test_coco_export_api_roles_validation_and_download(project, users, client_for):
    sample_project_data(project, users["admin"])
    url = f"/api/v1/projects/{project.id}/exports"

    assert client_for("annotator").post(url, {}, format="json").status_code == 403
    assert client_for("outsider").post(url, {}, format="json").status_code == 404
    bad = client_for("reviewer").post(url, {"status": ["bogus"]}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["field"].startswith("status")
    bad = client_for("reviewer").post(url, {"categories": [999999]}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "categories"
    bad = client_for("reviewer").post(url, {"kind": "predictions"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "model_version"

    created = client_for("reviewer").post(url, {"segmentation": "rle"}, format="json")
    assert created.status_code == 202, created.json()
    body = created.json()
    assert body["status"] == "pending" and body["download_url"] is None
    not_ready = client_for("reviewer").get(f"/api/v1/exports/{body['id']}/download")
    assert not_ready.status_code == 404 and not_ready.json()["error"]["code"] == "not_ready"

    from annotator.datasets.services import export_run

    export_run(job_id=body["id"])
    detail = client_for("reviewer").get(f"/api/v1/exports/{body['id']}").json()
    assert detail["status"] == "succeeded" and detail["progress"] == 100
    download = client_for("admin").get(detail["download_url"])
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    assert "annotations.json" in archive.namelist()
    assert client_for("outsider").get(detail["download_url"]).status_code == 404
    assert client_for("annotator").get(detail["download_url"]).status_code == 403


@pytest.mark.django_db
def test_coco_export_file_is_linked_from_the_admin(project, users, client):
    from django.contrib.auth import get_user_model

    sample_project_data(project, users["admin"])
    job = run_export(project, users["admin"], include_images=False)
    staff = get_user_model().objects.create_user(
        "staff", password="pw-for-tests", is_staff=True, is_superuser=True
    )
    client.force_login(staff)
    page = client.get("/admin/datasets/exportjob/").content.decode()
    assert f"/api/v1/exports/{job.id}/download" in page
    assert client.get(f"/api/v1/exports/{job.id}/download").status_code == 200


@pytest.mark.django_db
def test_coco_predictions_export_is_a_results_file_pycocotools_evaluates(project, users, tmp_path):
    admin = users["admin"]
    accepted = sample_project_data(project, admin)
    cats = categories(project)
    version = ModelVersion.objects.create(project=project, name="v1", checkpoint="", status="ready")
    for image in accepted:
        Prediction.objects.create(
            image=image,
            model_version=version,
            instances=[
                {"category": cats["cardboard_box"].id, "shape": HOLED, "score": 0.9},
                {"category": cats["envelope"].id, "shape": TRIANGLE, "score": 0.4},
            ],
        )

    gt, _ = read_export(run_export(project, admin, include_images=False))
    job = run_export(project, admin, kind="predictions", model_version_id=version.id)
    with job.file.open("rb") as fp:
        import json

        results = json.loads(fp.read())
    assert len(results) == 6 and {r["score"] for r in results} == {0.9, 0.4}
    coco = load_coco(tmp_path, gt)
    dets = coco.loadRes(results)
    from pycocotools.cocoeval import COCOeval

    evaluator = COCOeval(coco, dets, "segm")
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    # The first image's two instances are predicted exactly; others are not: AP is between 0 and 1.
    assert 0.0 < evaluator.stats[0] < 1.0


@pytest.mark.django_db(transaction=True)
def test_coco_export_runs_on_the_real_celery_worker(celery_worker, project, users, client_for):
    sample_project_data(project, users["admin"])
    created = client_for("reviewer").post(f"/api/v1/projects/{project.id}/exports", {}, format="json")
    assert created.status_code == 202
    job_id = created.json()["id"]

    def finished():
        job = ExportJob.objects.get(pk=job_id)
        return job if job.is_finished else None

    job = wait_for(finished, timeout=120, what=f"export {job_id}\n{celery_worker.log()[-3000:]}")
    assert job.status == "succeeded", job.message
    coco, members = read_export(job)
    assert len(coco["images"]) == 3 and len(coco["annotations"]) == 5
    assert len([m for m in members if m.startswith("images/")]) == 3
    assert "export_coco" in celery_worker.log()
    # A redelivered task finds the job finished and does nothing.
    from annotator.datasets.services import export_run

    assert export_run(job_id=job_id) is None
    assert ExportJob.objects.get(pk=job_id).file.name == job.file.name

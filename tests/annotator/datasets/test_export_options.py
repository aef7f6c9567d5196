"""Export options the UI offers (polygons or RLE, images or not, which statuses), through the API, and
the list of a project's exports with the options each was made with."""

import pytest

from annotator.annotations.services import image_submit
from annotator.datasets.models import ExportJob
from annotator.datasets.services import export_run

from .coco_helpers import add_image, read_export, sample_project_data

pytestmark = pytest.mark.django_db


def test_rle_without_images_for_submitted_and_accepted_images(client_for, project, users):
    accepted = sample_project_data(project, users["admin"])
    submitted = add_image(project, users["admin"], seed=9)
    submitted = image_submit(image=submitted, user=users["admin"], expected_version=submitted.version)
    client = client_for("reviewer")

    started = client.post(
        f"/api/v1/projects/{project.id}/exports",
        {"segmentation": "rle", "include_images": False, "status": ["submitted", "accepted"]},
        format="json",
    )
    assert started.status_code == 202
    job = export_run(job_id=started.json()["id"])

    coco, members = read_export(job)
    assert job.file.name.endswith(".json") and members == {}
    assert sorted(i["id"] for i in coco["images"]) == sorted([*(i.id for i in accepted), submitted.id])
    assert coco["annotations"] and all(isinstance(a["segmentation"], dict) for a in coco["annotations"])

    listed = client.get(f"/api/v1/projects/{project.id}/exports")
    assert listed.status_code == 200
    assert [e["id"] for e in listed.json()] == [job.id]
    options = listed.json()[0]["options"]
    assert (options["segmentation"], options["include_images"], options["statuses"]) == (
        "rle",
        False,
        ["accepted", "submitted"],
    )
    assert listed.json()[0]["download_url"] == f"/api/v1/exports/{job.id}/download"


def test_polygons_with_images_is_a_zip_of_the_accepted_images(client_for, project, users):
    accepted = sample_project_data(project, users["admin"])
    started = client_for("admin").post(
        f"/api/v1/projects/{project.id}/exports",
        {"segmentation": "polygons", "include_images": True},
        format="json",
    )
    coco, members = read_export(export_run(job_id=started.json()["id"]))
    assert len(members) == len(accepted) == len(coco["images"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"segmentation": "mask"}, "segmentation"),
        ({"status": ["done"]}, "status[0]"),
        ({"status": []}, "status"),
    ],
)
def test_a_bad_option_is_a_400_naming_it_and_starts_nothing(client_for, project, body, field):
    response = client_for("reviewer").post(f"/api/v1/projects/{project.id}/exports", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    assert not ExportJob.objects.exists()


def test_annotators_neither_list_nor_start_exports(client_for, project):
    client = client_for("annotator")
    assert client.get(f"/api/v1/projects/{project.id}/exports").status_code == 403
    assert client.post(f"/api/v1/projects/{project.id}/exports", {}, format="json").status_code == 403

"""Who may create a project (staff, or a group a setting names) and who may upload into one."""

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile

from annotator.projects.models import Image, Project
from tests.factories import image_bytes


def create(client, name: str):
    return client.post("/api/v1/projects", {"name": name}, format="json")


def upload(client, project_id: int, seed: int = 1):
    files = [SimpleUploadedFile(f"shelf-{seed}.jpg", image_bytes(seed=seed))]
    return client.post(f"/api/v1/projects/{project_id}/images", {"files": files}, format="multipart")


@pytest.mark.django_db
def test_only_staff_and_the_named_group_create_projects_and_me_says_who_may(users, client_for, settings):
    settings.ANNOTATOR = {**settings.ANNOTATOR, "PROJECT_CREATOR_GROUP": "project leads"}
    users["admin"].is_staff = True
    users["admin"].save()
    Group.objects.create(name="project leads").user_set.add(users["reviewer"])

    refused = create(client_for("annotator"), "Mine now")
    assert refused.status_code == 403
    assert refused.json()["error"] == {
        "code": "cannot_create_projects",
        "message": "Only staff and members of the 'project leads' group may create projects; ask an administrator",
        "field": None,
    }
    assert not Project.objects.filter(name="Mine now").exists()

    by_staff = create(client_for("admin"), "Dock 1")
    by_lead = create(client_for("reviewer"), "Dock 2")
    assert (by_staff.status_code, by_lead.status_code) == (201, 201)
    assert by_lead.json()["role"] == "admin"  # the creator administers the project
    assert {name: client_for(name).get("/api/v1/me").json()["can_create_projects"] for name in users} == {
        "admin": True,
        "reviewer": True,
        "annotator": False,
        "outsider": False,
    }


@pytest.mark.django_db
def test_without_a_group_setting_only_staff_create_projects(users, client_for, settings):
    settings.ANNOTATOR = {**settings.ANNOTATOR, "PROJECT_CREATOR_GROUP": ""}
    Group.objects.create(name="project creators").user_set.add(users["reviewer"])
    refused = create(client_for("reviewer"), "Dock 3")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "Only staff may create projects; ask an administrator"
    assert client_for("reviewer").get("/api/v1/me").json()["can_create_projects"] is False


@pytest.mark.django_db
def test_annotators_upload_only_where_the_project_allows_it(project, client_for):
    assert project.annotators_can_upload is False  # the default
    refused = upload(client_for("annotator"), project.id)
    assert refused.status_code == 403
    assert refused.json()["error"] == {
        "code": "upload_not_allowed",
        "message": "Annotators cannot upload images to project 'Warehouse A'; a project admin can upload "
        "them or allow annotators to (the project's 'annotators can upload' setting)",
        "field": None,
    }
    assert not Image.objects.exists()
    assert upload(client_for("admin"), project.id, seed=2).status_code == 201  # admins always may
    assert upload(client_for("reviewer"), project.id, seed=3).status_code == 201

    # Only an admin changes the setting; then annotators upload.
    url = f"/api/v1/projects/{project.id}"
    assert (
        client_for("annotator").patch(url, {"annotators_can_upload": True}, format="json").status_code == 403
    )
    allowed = client_for("admin").patch(url, {"annotators_can_upload": True}, format="json")
    assert allowed.status_code == 200 and allowed.json()["settings"]["annotators_can_upload"] is True
    assert upload(client_for("annotator"), project.id, seed=4).status_code == 201
    assert sorted(Image.objects.values_list("name", flat=True)) == [
        "shelf-2.jpg",
        "shelf-3.jpg",
        "shelf-4.jpg",
    ]

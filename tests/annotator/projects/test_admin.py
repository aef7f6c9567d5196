"""The Django admin: every model registered, project admins see only their projects, uploads work."""

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile

from annotator.projects.models import Image
from tests.factories import image_bytes, make_project


@pytest.mark.django_db
def test_every_model_of_ours_is_in_the_admin():
    from django.apps import apps

    ours = [m for m in apps.get_models() if m.__module__.startswith("annotator.")]
    missing = [m.__name__ for m in ours if m not in admin.site._registry]
    assert ours and missing == []


@pytest.mark.django_db
def test_project_admin_uses_the_admin_for_their_project_only(client, users):
    mine = make_project(admin=users["admin"], name="Mine")
    theirs = make_project(admin=users["outsider"], name="Theirs")
    users["admin"].is_staff = True
    users["admin"].save()
    client.force_login(users["admin"])

    response = client.post(
        "/admin/projects/image/upload/",
        {
            "project": mine.id,
            "files": [
                SimpleUploadedFile("a.jpg", image_bytes(seed=1)),
                SimpleUploadedFile("bad.jpg", b"nope"),
            ],
        },
    )
    assert response.status_code == 302
    assert Image.objects.filter(project=mine).count() == 1
    messages = [str(m) for m in client.get("/admin/projects/image/").context["messages"]]
    assert any("Stored 1 image" in m for m in messages) and any("bad.jpg" in m for m in messages)

    listing = client.get("/admin/projects/project/")
    assert listing.status_code == 200
    assert "Mine" in listing.content.decode() and "Theirs" not in listing.content.decode()
    assert client.get(f"/admin/projects/project/{mine.id}/change/").status_code == 200
    # Another project's page answers as if it did not exist: back to the admin index, saying so.
    hidden = client.get(f"/admin/projects/project/{theirs.id}/change/")
    assert hidden.status_code == 302 and hidden["Location"] == "/admin/"
    notice = [str(m) for m in client.get("/admin/").context["messages"]]
    assert notice == [f"project with ID “{theirs.id}” doesn’t exist. Perhaps it was deleted?"]
    assert client.get("/admin/annotations/revision/").status_code == 200
    refused = client.post(
        "/admin/projects/image/upload/",
        {"project": theirs.id, "files": [SimpleUploadedFile("b.jpg", image_bytes(seed=2))]},
    )
    assert refused.status_code == 200  # the form again, with the error
    assert "Choose a project" in refused.content.decode()
    assert Image.objects.filter(project=theirs).count() == 0


@pytest.mark.django_db
def test_members_without_staff_cannot_enter_the_admin(client, users):
    make_project(admin=users["admin"], name="Mine")
    client.force_login(users["admin"])
    assert client.get("/admin/projects/project/").status_code == 302  # to the admin login

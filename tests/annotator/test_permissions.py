"""Every role x endpoint x other-project case: who may do what, and nobody sees another project."""

import pytest
from django.core.files.base import ContentFile
from rest_framework.test import APIClient

from annotator.projects.models import Image
from tests.factories import make_project, square_shape

RANK = {"annotator": 1, "reviewer": 2, "admin": 3}


def _image(project, n):
    image = Image(project=project, name=f"p{n}.jpg", sha256=f"{n:064d}", width=50, height=50)
    image.file.save(f"p{n}.jpg", ContentFile(b"\xff\xd8\xff"), save=False)
    image.save()
    return image


# (method, url, body, minimum role). Bodies are valid so that an allowed role gets 2xx/409, not 400.
def endpoints(project, image):
    cat = project.categories.first().id
    save = {
        "expected_version": image.version,
        "annotations": [{"category": cat, "shape": square_shape(1, 1, 5)}],
    }
    return [
        ("get", f"/api/v1/projects/{project.id}", None, "annotator"),
        ("patch", f"/api/v1/projects/{project.id}", {"retrain_threshold": 7}, "admin"),
        ("get", f"/api/v1/projects/{project.id}/stats", None, "annotator"),
        ("get", f"/api/v1/projects/{project.id}/members", None, "annotator"),
        (
            "post",
            f"/api/v1/projects/{project.id}/members",
            {"username": "oscar_outsider", "role": "annotator"},
            "admin",
        ),
        ("get", f"/api/v1/projects/{project.id}/categories", None, "annotator"),
        (
            "post",
            f"/api/v1/projects/{project.id}/categories",
            {"name": "pallet_wrap", "color": "#123456"},
            "admin",
        ),
        ("get", f"/api/v1/projects/{project.id}/images", None, "annotator"),
        ("post", f"/api/v1/projects/{project.id}/queue/next", None, "annotator"),
        ("get", f"/api/v1/images/{image.id}", None, "annotator"),
        ("get", f"/api/v1/images/{image.id}/file", None, "annotator"),
        ("get", f"/api/v1/images/{image.id}/annotations", None, "annotator"),
        ("put", f"/api/v1/images/{image.id}/annotations", save, "annotator"),
        ("get", f"/api/v1/images/{image.id}/revisions", None, "annotator"),
        ("post", f"/api/v1/images/{image.id}/lease", None, "annotator"),
        ("delete", f"/api/v1/images/{image.id}/lease", None, "annotator"),
        ("post", f"/api/v1/images/{image.id}/review", {"decision": "accept"}, "reviewer"),
    ]


ROLES = ["admin", "reviewer", "annotator", "outsider", "anonymous"]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(project, users, role):
    image = _image(project, 1)
    client = APIClient()
    if role != "anonymous":
        client.force_authenticate(users[role])
    for method, url, body, minimum in endpoints(project, image):
        response = getattr(client, method)(url, body, format="json")
        where = f"{role} {method.upper()} {url} -> {response.status_code}"
        if role == "anonymous":
            assert response.status_code == 401, where
        elif role == "outsider":
            assert response.status_code == 404, where  # no existence leak
        elif RANK[role] >= RANK[minimum]:
            # Allowed: success, or a business answer (409 wrong status for review), never 401/403/404.
            assert response.status_code in (200, 201, 204, 409), where
        else:
            assert response.status_code == 403, where
            assert "role" in response.json()["error"]["message"], where


@pytest.mark.django_db
def test_nobody_sees_another_projects_data(users, client_for):
    mine = make_project(admin=users["admin"], name="Mine", annotator=users["annotator"])
    theirs = make_project(admin=users["outsider"], name="Theirs")
    their_image = _image(theirs, 2)
    _image(mine, 3)
    client = client_for("annotator")

    assert [p["name"] for p in client.get("/api/v1/projects").json()] == ["Mine"]
    for url in [
        f"/api/v1/projects/{theirs.id}",
        f"/api/v1/projects/{theirs.id}/images",
        f"/api/v1/images/{their_image.id}",
        f"/api/v1/images/{their_image.id}/file",
        f"/api/v1/images/{their_image.id}/annotations",
    ]:
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"
    # Using a category of another project in my image is refused as a 400, not silently stored.
    my_image = mine.images.get()
    response = client.put(
        f"/api/v1/images/{my_image.id}/annotations",
        {
            "expected_version": 0,
            "annotations": [{"category": theirs.categories.first().id, "shape": square_shape(1, 1, 4)}],
        },
        format="json",
    )
    assert response.status_code == 400 and response.json()["error"]["field"] == "annotations[0].category"


@pytest.mark.django_db
def test_staff_see_every_project(users, client_for):
    make_project(admin=users["outsider"], name="Theirs")
    users["admin"].is_staff = True
    users["admin"].save()
    assert [p["name"] for p in client_for("admin").get("/api/v1/projects").json()] == ["Theirs"]


@pytest.mark.django_db
def test_token_auth_works(users):
    client = APIClient()
    token = client.post(
        "/api/v1/auth/token", {"username": "andy_annotator", "password": "pw-for-tests"}
    ).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/me").json()["username"] == "andy_annotator"


@pytest.mark.django_db
def test_category_input_is_validated(project, client_for):
    client = client_for("admin")
    bad_class = client.post(
        f"/api/v1/projects/{project.id}/categories",
        {"name": "wrap", "universal_name": "pallet"},
        format="json",
    )
    assert bad_class.status_code == 400 and bad_class.json()["error"]["field"] == "universal_name"
    bad_colour = client.post(
        f"/api/v1/projects/{project.id}/categories", {"name": "wrap", "color": "red"}, format="json"
    )
    assert bad_colour.status_code == 400 and bad_colour.json()["error"]["field"] == "color"
    ok = client.post(
        f"/api/v1/projects/{project.id}/categories",
        {"name": "wrap", "universal_name": "plastic_bag"},
        format="json",
    )
    assert ok.status_code == 201 and ok.json()["export_id"] == 6
    duplicate = client.post(f"/api/v1/projects/{project.id}/categories", {"name": "wrap"}, format="json")
    assert duplicate.status_code == 409

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


# (method, url, body, minimum role, status for an allowed role). Bodies are valid, so an allowed role
# gets the one answer a user would: the calls run in this order on one image (the queue leases it,
# the save moves it to in progress, so the review is refused as a wrong transition).
def endpoints(project, image):
    cat = project.categories.first().id
    save = {
        "expected_version": image.version,
        "annotations": [{"category": cat, "shape": square_shape(1, 1, 5)}],
    }
    return [
        ("get", f"/api/v1/projects/{project.id}", None, "annotator", 200),
        ("patch", f"/api/v1/projects/{project.id}", {"retrain_threshold": 7}, "admin", 200),
        ("get", f"/api/v1/projects/{project.id}/stats", None, "annotator", 200),
        ("get", f"/api/v1/projects/{project.id}/members", None, "annotator", 200),
        (
            "post",
            f"/api/v1/projects/{project.id}/members",
            {"username": "oscar_outsider", "role": "annotator"},
            "admin",
            200,
        ),
        ("get", f"/api/v1/projects/{project.id}/categories", None, "annotator", 200),
        (
            "post",
            f"/api/v1/projects/{project.id}/categories",
            {"name": "pallet_wrap", "color": "#123456"},
            "admin",
            201,
        ),
        ("get", f"/api/v1/projects/{project.id}/images", None, "annotator", 200),
        ("post", f"/api/v1/projects/{project.id}/queue/next", None, "annotator", 200),
        ("get", f"/api/v1/images/{image.id}", None, "annotator", 200),
        ("get", f"/api/v1/images/{image.id}/file", None, "annotator", 200),
        ("get", f"/api/v1/images/{image.id}/annotations", None, "annotator", 200),
        ("put", f"/api/v1/images/{image.id}/annotations", save, "annotator", 200),
        ("get", f"/api/v1/images/{image.id}/revisions", None, "annotator", 200),
        ("post", f"/api/v1/images/{image.id}/lease", None, "annotator", 200),
        ("delete", f"/api/v1/images/{image.id}/lease", None, "annotator", 204),
        ("post", f"/api/v1/images/{image.id}/review", {"decision": "accept"}, "reviewer", 409),
    ]


ROLES = ["admin", "reviewer", "annotator", "outsider", "anonymous"]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(project, users, role):
    image = _image(project, 1)
    client = APIClient()
    if role != "anonymous":
        client.force_authenticate(users[role])
    for method, url, body, minimum, allowed_status in endpoints(project, image):
        response = getattr(client, method)(url, body, format="json")
        where = f"{role} {method.upper()} {url} -> {response.status_code}"
        if role == "anonymous":
            assert response.status_code == 401, where
            assert response.json()["error"]["code"] == "not_authenticated", where
        elif role == "outsider":
            assert response.status_code == 404, where  # no existence leak
            assert response.json()["error"]["code"] == "not_found", where
        elif RANK[role] >= RANK[minimum]:
            assert response.status_code == allowed_status, (where, response.content[:300])
            if allowed_status == 409:  # the image is in progress: a review is a wrong transition
                assert response.json()["error"]["code"] == "invalid_transition", where
        else:
            assert response.status_code == 403, where
            error = response.json()["error"]
            assert error["code"] == "permission_denied" and f"needs the {minimum} role" in error["message"], (
                where
            )


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

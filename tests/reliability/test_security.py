"""Security basics: CSRF on session-authenticated writes, uploaded bytes never served as anything
but an image (with nosniff), media never public, and ``check --deploy`` clean in production."""

from __future__ import annotations

import io

import pytest
from django.conf import settings
from django.middleware.csrf import _get_new_csrf_string, _mask_cipher_secret
from rest_framework.test import APIClient

from annotator.projects.ingest import images_ingest
from annotator.projects.models import Image
from tests.factories import image_bytes, square_shape


@pytest.fixture
def image(project, users):
    return images_ingest(
        project=project, uploads=[("a.jpg", io.BytesIO(image_bytes(64, 48, seed=5)))], user=users["admin"]
    ).created[0]


def session_client(user) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def unsafe_requests(project, image):
    category = project.categories.first().id
    return [
        (
            "put",
            f"/api/v1/images/{image.id}/annotations",
            {"expected_version": 0, "annotations": [{"category": category, "shape": square_shape(1, 1, 5)}]},
        ),
        ("post", f"/api/v1/images/{image.id}/submit", {"expected_version": 0}),
        ("post", f"/api/v1/images/{image.id}/lease", {}),
        ("delete", f"/api/v1/images/{image.id}/lease", {}),
        ("post", f"/api/v1/projects/{project.id}/queue/next", {}),
        ("patch", f"/api/v1/projects/{project.id}", {"name": "renamed by a forged request"}),
        ("post", f"/api/v1/projects/{project.id}/categories", {"name": "forged"}),
        ("post", f"/api/v1/projects/{project.id}/members", {"username": "oscar_outsider", "role": "admin"}),
        ("post", "/api/v1/projects", {"name": "forged project"}),
    ]


@pytest.mark.django_db
def test_session_writes_without_a_csrf_token_are_refused(project, users, image):
    client = session_client(users["admin"])
    assert client.get("/api/v1/me").status_code == 200  # the session itself works
    for method, url, body in unsafe_requests(project, image):
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 403, (method, url, response.status_code)
        assert "CSRF" in response.json()["error"]["message"], response.json()
    image.refresh_from_db()
    project.refresh_from_db()
    assert image.version == 0 and image.lease_user is None
    assert project.name == "Warehouse A" and not project.categories.filter(name="forged").exists()
    assert not project.memberships.filter(user=users["outsider"]).exists()


@pytest.mark.django_db
def test_session_writes_with_the_csrf_token_work(project, users, image):
    client = session_client(users["admin"])
    secret = _get_new_csrf_string()
    client.cookies[settings.CSRF_COOKIE_NAME] = secret
    token = _mask_cipher_secret(secret)
    category = project.categories.first().id
    response = client.put(
        f"/api/v1/images/{image.id}/annotations",
        {"expected_version": 0, "annotations": [{"category": category, "shape": square_shape(1, 1, 5)}]},
        format="json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 200, response.content


@pytest.mark.django_db
def test_the_app_page_hands_out_the_csrf_cookie_the_spa_needs(users, settings, tmp_path):
    settings.FRONTEND_DIST = tmp_path  # a built UI: its index.html
    (tmp_path / "index.html").write_text("<!doctype html><title>annotator</title>", encoding="utf-8")
    response = session_client(users["annotator"]).get("/app/")
    assert response.status_code == 200
    assert response.content.decode() == "<!doctype html><title>annotator</title>"
    assert settings.CSRF_COOKIE_NAME in response.cookies


@pytest.mark.django_db
def test_the_app_page_says_how_to_build_the_ui_when_it_is_not_built(users, settings, tmp_path):
    settings.FRONTEND_DIST = tmp_path / "missing"
    response = session_client(users["annotator"]).get("/app/")
    assert response.status_code == 503
    assert "Run `make frontend`" in response.content.decode()
    assert settings.CSRF_COOKIE_NAME in response.cookies  # set all the same


@pytest.mark.django_db
def test_token_clients_are_not_subject_to_csrf(project, users, image):
    from rest_framework.authtoken.models import Token

    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=users['admin']).key}")
    assert client.post(f"/api/v1/images/{image.id}/lease").status_code == 200


@pytest.mark.django_db
def test_the_login_form_requires_csrf(users):
    client = APIClient(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "alice_admin", "password": "pw-for-tests"})
    assert response.status_code == 403


FORMATS = [
    ("JPEG", "jpg", "image/jpeg"),
    ("PNG", "png", "image/png"),
    ("WEBP", "webp", "image/webp"),
    ("BMP", "bmp", "image/bmp"),
    ("TIFF", "tif", "image/tiff"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("fmt", "ext", "content_type"), FORMATS, ids=[f[0] for f in FORMATS])
def test_uploaded_files_are_served_as_images_with_nosniff(project, client_for, fmt, ext, content_type):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = client_for("admin")
    # A real image with HTML appended: a polyglot a browser could sniff as a page without nosniff.
    data = image_bytes(32, 24, seed=9, fmt=fmt) + b"<html><script>alert(document.cookie)</script></html>"
    response = client.post(
        f"/api/v1/projects/{project.id}/images",
        {"files": [SimpleUploadedFile(f"evil.html.{ext}", data, content_type="text/html")]},
        format="multipart",
    )
    if response.status_code == 400:  # a format whose decoder refuses trailing bytes: refused, fine
        assert Image.objects.count() == 0
        return
    image_id = response.json()["created"][0]["id"]
    for url in (f"/api/v1/images/{image_id}/file", f"/api/v1/images/{image_id}/thumbnail"):
        served = client.get(url)
        assert served.status_code == 200
        assert served["Content-Type"].startswith("image/"), served["Content-Type"]
        assert served["Content-Type"] == (content_type if url.endswith("file") else "image/jpeg")
        assert served["X-Content-Type-Options"] == "nosniff"
        assert "attachment" in served["Content-Disposition"] or "inline" in served["Content-Disposition"]
        assert "filename" not in served["Content-Disposition"] or "html" not in served["Content-Disposition"]


@pytest.mark.django_db
def test_media_is_not_served_publicly(client, image):
    assert client.get(f"/media/{image.file.name}").status_code == 404
    response = client.get(f"/api/v1/images/{image.id}/file")
    assert response.status_code == 401  # token auth comes first: a WWW-Authenticate challenge, not a 403
    assert response.json()["error"]["code"] == "not_authenticated"


# `manage.py check --deploy` with production settings: tests/annotator/test_platform.py.

"""Sign-ins slowed after failures (token endpoint and login page), and the API docs behind a sign-in."""

import logging

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

PASSWORD = "pw-for-tests"  # tests.factories.UserFactory


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


def token(client, username: str, password: str, address: str = "10.0.0.7"):
    return client.post(
        "/api/v1/auth/token", {"username": username, "password": password}, format="json", REMOTE_ADDR=address
    )


@pytest.mark.django_db
def test_repeated_token_failures_get_a_429_with_retry_after_and_are_logged(users, settings, caplog):
    settings.ANNOTATOR = {**settings.ANNOTATOR, "LOGIN_FAILURES_BEFORE_WAIT": 5, "LOGIN_WAIT_SECONDS": 30}
    client = APIClient()
    with caplog.at_level(logging.WARNING, logger="annotator.web.sign_in"):
        answers = [token(client, "andy_annotator", "wrong").status_code for _ in range(5)]
    assert answers == [400] * 5
    failures = [r.getMessage() for r in caplog.records if "failed sign-in" in r.getMessage()]
    assert len(failures) == 5 and all("'andy_annotator'" in m and "10.0.0.7" in m for m in failures)

    refused = token(client, "andy_annotator", PASSWORD)  # even the right password waits
    assert refused.status_code == 429
    assert refused["Retry-After"] == "30"
    assert refused.json()["error"]["code"] == "throttled"
    assert "Too many failed sign-ins" in refused.json()["error"]["message"]
    # Another address, or another user, is not held up by these failures.
    assert token(client, "andy_annotator", PASSWORD, address="10.0.0.8").status_code == 200
    assert token(client, "rita_reviewer", PASSWORD).status_code == 200


@pytest.mark.django_db
def test_each_further_failure_doubles_the_wait_and_a_success_clears_it(users, settings):
    settings.ANNOTATOR = {
        **settings.ANNOTATOR,
        "LOGIN_FAILURES_BEFORE_WAIT": 2,
        "LOGIN_WAIT_SECONDS": 10,
        "LOGIN_WAIT_MAX_SECONDS": 15,
    }
    from annotator.web.sign_in import sign_in_failed, sign_in_succeeded, sign_in_wait

    who = {"username": "andy_annotator", "address": "10.0.0.9"}
    sign_in_failed(**who)
    assert sign_in_wait(**who) == 0
    sign_in_failed(**who)
    assert 9 <= sign_in_wait(**who) <= 10
    sign_in_failed(**who)
    assert 14 <= sign_in_wait(**who) <= 15  # 20 s, capped at 15
    sign_in_succeeded(**who)
    assert sign_in_wait(**who) == 0


@pytest.mark.django_db
def test_the_login_page_answers_429_with_retry_after_after_repeated_failures(users, settings, caplog):
    settings.ANNOTATOR = {**settings.ANNOTATOR, "LOGIN_FAILURES_BEFORE_WAIT": 3, "LOGIN_WAIT_SECONDS": 60}
    client = APIClient()  # a plain form post, as a browser sends it
    form = {"username": "alice_admin", "password": "wrong"}
    with caplog.at_level(logging.WARNING, logger="annotator.web.sign_in"):
        tries = [client.post("/accounts/login/", form, REMOTE_ADDR="10.1.1.1").status_code for _ in range(3)]
    assert tries == [200] * 3  # the form again, with its error
    assert (
        sum(
            "failed sign-in for username 'alice_admin' from 10.1.1.1" in r.getMessage()
            for r in caplog.records
        )
        == 3
    )
    refused = client.post(
        "/accounts/login/", {"username": "alice_admin", "password": PASSWORD}, REMOTE_ADDR="10.1.1.1"
    )
    assert refused.status_code == 429 and refused["Retry-After"] == "60"
    assert "Too many failed sign-ins; try again in 60 seconds" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    admin_page = client.post(
        "/admin/login/", {"username": "alice_admin", "password": PASSWORD}, REMOTE_ADDR="10.1.1.1"
    )
    assert admin_page.status_code == 429  # the admin's login page is guarded the same way


@pytest.mark.django_db
def test_the_schema_and_docs_need_a_sign_in(users, client_for):
    anonymous = APIClient()
    schema = anonymous.get("/api/schema/")
    assert schema.status_code == 401  # the error in the schema's own format (YAML), without any of the schema
    assert b"not_authenticated" in schema.content and b"/api/v1/projects" not in schema.content
    docs = anonymous.get("/api/docs/")
    assert docs.status_code == 302 and docs["Location"] == "/accounts/login/?next=/api/docs/"
    signed_in = client_for("annotator").get("/api/schema/")
    assert signed_in.status_code == 200 and b"/api/v1/projects" in signed_in.content
    session = APIClient()
    session.force_login(users["annotator"])
    assert session.get("/api/docs/").status_code == 200


@pytest.mark.django_db
def test_a_setting_makes_the_schema_and_docs_public(settings):
    settings.ANNOTATOR = {**settings.ANNOTATOR, "API_DOCS_PUBLIC": True}
    anonymous = APIClient()
    assert anonymous.get("/api/schema/").status_code == 200
    assert anonymous.get("/api/docs/").status_code == 200

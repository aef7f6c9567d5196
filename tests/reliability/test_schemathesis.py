"""Property-based fuzzing of every operation in ``/api/schema/``: no input may produce a 5xx.

Schemathesis generates valid and invalid requests from the OpenAPI schema and sends them to the
Django WSGI app in-process, authenticated with a project admin's token. Half of the cases use
the ids of real rows so the fuzzing reaches the code behind the permission checks, not only 404s.
``RELIABILITY_EXAMPLES`` sets the examples per operation and generation mode (default 10).
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager

import pytest
import schemathesis
from django.contrib.auth.models import Group
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode

from annotator.annotations.services import annotations_save
from annotator.projects.ingest import images_ingest
from tests.factories import image_bytes, square_shape

EXAMPLES = int(os.environ.get("RELIABILITY_EXAMPLES", "10"))


@contextmanager
def _same_db_connection():
    """Keep the test's DB connection across in-process WSGI calls (as Django's test client does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(settings):
    from django.core.wsgi import get_wsgi_application

    # Fetched without signing in: the schema made public for this (its sign-in: tests/annotator/web).
    settings.ANNOTATOR = {**settings.ANNOTATOR, "API_DOCS_PUBLIC": True}
    with _same_db_connection():
        return schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture
def real_rows(project, users):
    """A project with two images, one with a saved annotation set, so ids in paths resolve."""
    import io

    report = images_ingest(
        project=project,
        uploads=[
            ("one.jpg", io.BytesIO(image_bytes(64, 48, seed=1))),
            ("two.png", io.BytesIO(image_bytes(40, 30, seed=2, fmt="PNG"))),
        ],
        user=users["admin"],
    )
    first = report.created[0]
    category = project.categories.first()
    annotations_save(
        image=first,
        annotations=[{"category": category.id, "shape": square_shape(2, 2, 10)}],
        user=users["admin"],
        expected_version=0,
    )
    return {"project_id": project.id, "image_id": first.id}


@pytest.mark.django_db
def test_every_api_url_is_in_the_schema(api_schema):
    from annotator.api_urls import urlpatterns

    documented = {op.ok().path for op in api_schema.get_all_operations()}
    for pattern in urlpatterns:
        route = "/api/v1/" + re.sub(
            r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern)
        )  # <int:id>, <str:name>
        assert route in documented, f"{route} is served but missing from /api/schema/"


@pytest.mark.slow  # ~30 s of generated requests
@pytest.mark.django_db
def test_no_input_makes_the_api_fail_with_a_server_error(api_schema, real_rows, users):
    token = Token.objects.create(user=users["admin"]).key
    Group.objects.create(name="project creators").user_set.add(users["admin"])  # may create projects
    auth = {"Authorization": f"Token {token}"}
    failures: list[str] = []
    calls = 0
    succeeded: set[str] = set()

    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20, [op.label for op in operations]
    for operation in operations:
        ids = (
            {
                name: real_rows[name]
                for name in ("project_id", "image_id")
                if name in operation.path_parameters
            }
            if operation.path_parameters
            else {}
        )
        strategies = [
            operation.as_strategy(GenerationMode.POSITIVE, headers=auth),
            operation.as_strategy(GenerationMode.NEGATIVE, headers=auth),
        ]
        if ids:
            strategies += [
                operation.as_strategy(GenerationMode.POSITIVE, headers=auth, path_parameters=ids),
                operation.as_strategy(GenerationMode.NEGATIVE, headers=auth, path_parameters=ids),
            ]

        @settings(
            max_examples=EXAMPLES * len(strategies),
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
        @given(case=st.one_of(*strategies))
        def exercise(case):
            nonlocal calls
            with _same_db_connection():
                response = case.call(headers=auth)
            calls += 1
            if response.status_code < 300:
                succeeded.add(case.operation.label)
            if response.status_code >= 500:
                failures.append(
                    f"{response.status_code} from {case.as_curl_command()}\n{response.text[:600]}"
                )

        exercise()

    assert calls >= len(operations) * EXAMPLES, calls
    # Authentication works and the real ids lead somewhere: the core operations and half of those
    # whose path ids we could fill with real rows (or that have none) answered 2xx at least once.
    # Some legitimately never do with random input: a save needs the current version and real
    # category ids, a review a submitted image, a prediction a model run, staff-only views a staff user.
    reachable = {
        op.label for op in operations if {p.name for p in op.path_parameters} <= {"project_id", "image_id"}
    }
    core = {
        "GET /api/v1/images/{image_id}",
        "GET /api/v1/images/{image_id}/annotations",
        "POST /api/v1/images/{image_id}/lease",
        "GET /api/v1/projects/{project_id}/images",
        "GET /api/v1/projects/{project_id}",
        "GET /api/v1/projects",
        "POST /api/v1/projects",
    }
    assert core <= succeeded, sorted(core - succeeded)
    assert len(succeeded & reachable) >= 0.5 * len(reachable), sorted(reachable - succeeded)
    assert not failures, f"{len(failures)} server errors:\n\n" + "\n\n".join(failures[:10])

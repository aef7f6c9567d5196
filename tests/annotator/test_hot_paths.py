"""The two requests an annotator makes most (save the set, page through images): their query counts are
pinned, so a per-row query or a repeated permission lookup shows up as a failing test, not as latency."""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotator.annotations.models import Revision
from annotator.projects.apis import ImageOutput
from annotator.projects.models import Image
from annotator.projects.selectors import image_list

# token + user, image + role, categories, [BEGIN], lock + role, delete, insert, update, revision, [COMMIT].
# The test runs inside a transaction, so BEGIN/COMMIT show up as SAVEPOINT/RELEASE.
SAVE_QUERIES = 10
# token + user, project + role, count, page.
LIST_QUERIES = 4


def make_image(project, n: int, **fields) -> Image:
    image = Image(project=project, name=f"img{n}.jpg", sha256=f"{n:064d}", width=640, height=480, **fields)
    image.file.save(f"img{n}.jpg", ContentFile(b"x"), save=False)
    image.save()
    return image


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def polygon(cx: float, cy: float, r: float = 20.0, vertices: int = 16) -> list:
    import math

    return [
        [
            [
                round(cx + r * math.cos(2 * math.pi * k / vertices), 2),
                round(cy + r * math.sin(2 * math.pi * k / vertices), 2),
            ]
            for k in range(vertices)
        ]
    ]


@pytest.mark.django_db
def test_a_save_of_ten_polygons_is_a_fixed_number_of_queries_and_answers_what_the_revision_holds(
    project, users
):
    image = make_image(project, 1)
    client = token_client(users["annotator"])
    category = project.categories.first().id
    body = {"annotations": [{"category": category, "shape": [polygon(40 + 50 * i, 100)]} for i in range(10)]}

    first = client.put(
        f"/api/v1/images/{image.id}/annotations", {**body, "expected_version": 0}, format="json"
    )
    assert first.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        second = client.put(
            f"/api/v1/images/{image.id}/annotations", {**body, "expected_version": 1}, format="json"
        )

    assert second.status_code == 200
    assert len(queries.captured_queries) == SAVE_QUERIES, "\n".join(
        q["sql"][:120] for q in queries.captured_queries
    )
    saved = second.json()
    assert saved["version"] == 2 and len(saved["annotations"]) == 10
    # The answer is the set as stored: the same as a fresh read and as the revision.
    assert saved == client.get(f"/api/v1/images/{image.id}/annotations").json()
    assert Revision.objects.get(image=image, version=2).annotations == saved["annotations"]
    assert [a["id"] for a in saved["annotations"]] == sorted(a["id"] for a in saved["annotations"])


@pytest.mark.django_db
def test_an_image_list_page_is_a_fixed_number_of_queries_whatever_its_rows_hold(project, users):
    in_an_hour = timezone.now() + timedelta(hours=1)
    for n in range(60):
        lessee = [None, users["annotator"], users["reviewer"]][n % 3]
        make_image(
            project,
            n,
            lease_user=lessee,
            lease_expires_at=in_an_hour if lessee else None,
            uncertainty=0.5 if n % 2 else None,
            features=[0.1] * 8,
        )
    client = token_client(users["annotator"])

    with CaptureQueriesContext(connection) as queries:
        page = client.get(f"/api/v1/projects/{project.id}/images?page=1")

    assert page.status_code == 200
    assert len(queries.captured_queries) == LIST_QUERIES, "\n".join(
        q["sql"][:120] for q in queries.captured_queries
    )
    body = page.json()
    assert body["count"] == 60 and len(body["results"]) == 50
    assert {row["lease"]["user"] for row in body["results"] if row["lease"]} == {
        "andy_annotator",
        "rita_reviewer",
    }


@pytest.mark.django_db
def test_image_output_writes_what_the_model_serializer_would(project, users):
    leased = make_image(
        project,
        1,
        lease_user=users["annotator"],
        split="train",
        uncertainty=0.25,
        lease_expires_at=timezone.now() + timedelta(minutes=5),
    )
    expired = make_image(
        project, 2, lease_user=users["reviewer"], lease_expires_at=timezone.now() - timedelta(1)
    )
    plain = make_image(project, 3)
    for image in [
        *Image.objects.filter(pk__in=[leased.pk, expired.pk, plain.pk]).select_related("lease_user"),
        *image_list(project=project),
    ]:
        output = ImageOutput(image)
        assert output.data == serializers.ModelSerializer.to_representation(output, image)

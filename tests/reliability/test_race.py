"""50 concurrent writers, real HTTP against a live server on PostgreSQL, all sending the same
``expected_version``: exactly one wins each version, the others get 409 with the current version,
every accepted save has its Revision, and the stored set is exactly what the winner sent."""

from __future__ import annotations

import io
import threading

import pytest
import requests
from django.db import connection
from rest_framework.authtoken.models import Token

from annotator.annotations.models import Revision
from annotator.projects.ingest import images_ingest
from annotator.projects.models import Image, Membership, Role
from tests.factories import UserFactory, image_bytes, square_shape

WRITERS = 50
ROUNDS = 4

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the race test needs PostgreSQL (row locks under real concurrency); "
    "set DATABASE_URL=postgres://... to run it",
)


def _put_all(
    url: str, tokens: list[str], expected_version: int, category: int
) -> list[tuple[int, dict, list]]:
    """Fire WRITERS PUTs released together by a barrier; returns (status, body, shape sent) each."""
    barrier = threading.Barrier(WRITERS)
    results: list[tuple[int, dict, list] | None] = [None] * WRITERS

    def writer(index: int) -> None:
        shape = square_shape(index, index, 5 + index % 7)
        session = requests.Session()
        session.headers["Authorization"] = f"Token {tokens[index % len(tokens)]}"
        # Open the keep-alive connection first: 50 simultaneous connects would overflow the test
        # server's small listen backlog, and the race is about the writes, not the handshakes.
        assert session.get(url, timeout=60).status_code == 200
        barrier.wait(timeout=60)
        response = session.put(
            url,
            json={
                "expected_version": expected_version,
                "annotations": [{"category": category, "shape": shape}],
            },
            timeout=120,
        )
        results[index] = (response.status_code, response.json(), shape)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert all(r is not None for r in results), "a writer thread did not finish"
    return results  # type: ignore[return-value]


@pytest.mark.django_db(transaction=True)
def test_fifty_writers_on_one_version_exactly_one_wins(live_server, project, users):
    annotators = [UserFactory(username=f"racer{i}") for i in range(10)]
    for user in annotators:
        Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
    tokens = [Token.objects.create(user=u).key for u in annotators]
    image = images_ingest(
        project=project,
        uploads=[("race.jpg", io.BytesIO(image_bytes(200, 200, seed=42)))],
        user=users["admin"],
    ).created[0]
    category = project.categories.first().id
    url = f"{live_server.url}/api/v1/images/{image.id}/annotations"

    winners: dict[int, list] = {}
    for round_ in range(ROUNDS):
        version = image.version + round_
        results = _put_all(url, tokens, version, category)
        statuses = sorted(status for status, _, _ in results)
        accepted = [(body, shape) for status, body, shape in results if status == 200]
        assert len(accepted) == 1, f"version {version}: {statuses}"
        assert statuses.count(409) == WRITERS - 1, f"version {version}: {statuses}"
        for status, body, _ in results:
            if status == 409:
                assert body["error"]["code"] == "version_conflict", body
                assert body["error"]["current_version"] >= version + 1, body
        body, shape = accepted[0]
        assert body["version"] == version + 1
        assert body["annotations"][0]["shape"] == shape
        winners[version + 1] = shape

    image.refresh_from_db()
    assert image.version == ROUNDS
    revisions = {r.version: r for r in Revision.objects.filter(image=image)}
    assert sorted(revisions) == list(range(1, ROUNDS + 1)), sorted(revisions)
    for version, shape in winners.items():
        saved = revisions[version].annotations
        assert [a["shape"] for a in saved] == [shape], f"revision {version} is not what its writer sent"
    current = list(image.annotations.values_list("shape", flat=True))
    assert current == [winners[ROUNDS]]
    assert Image.objects.filter(pk=image.pk, status="in_progress").exists()

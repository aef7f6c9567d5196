"""Find any image: the list's pagination, filters, search and order, its query count, and an image's
previous and next in that list."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotator.annotations.models import Revision
from annotator.learning.models import Prediction
from tests.factories import make_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def images(project, users):
    """30 images: statuses in turn, val/train halves, three leased, pre-labels on every 4th, two rejected once."""
    soon = timezone.now() + timedelta(minutes=5)
    statuses = ["new", "pre_labeled", "in_progress", "submitted", "accepted", "rejected"]
    rows = []
    for n in range(30):
        leased = n in (3, 4, 5)
        image = make_image(
            project,
            n,
            status=statuses[n % 6],
            split="val" if n < 15 else "train",
            lease_user=users["annotator"] if leased else None,
            lease_expires_at=soon if leased else None,
            uncertainty=None if n % 5 == 0 else n / 100,
        )
        image.name = f"{'dock' if n % 2 else 'yard'}_{n:02d}.jpg"
        image.save(update_fields=["name"])
        if n % 4 == 0:
            Prediction.objects.create(image=image, instances=[], uncertainty=0.3)
        if n in (7, 11):
            Revision.objects.create(image=image, version=1, action=Revision.Action.REJECT, annotations=[])
        rows.append(image)
    # an expired lease is no assignee
    rows[6].lease_user, rows[6].lease_expires_at = users["reviewer"], timezone.now() - timedelta(minutes=1)
    rows[6].save(update_fields=["lease_user", "lease_expires_at"])
    return rows


def search(client, project, **params):
    response = client.get(f"/api/v1/projects/{project.id}/images/search", params)
    assert response.status_code == 200, response.json()
    return response.json()


def names(body) -> list[str]:
    return [row["name"] for row in body["results"]]


def test_pages_of_24_then_the_rest_with_thumbnails(client_for, project, images):
    client = client_for("annotator")
    first = search(client, project)
    second = search(client, project, page=2)

    assert first["count"] == 30 and len(first["results"]) == 24 and first["previous"] is None
    assert "page=2" in first["next"]
    assert len(second["results"]) == 6 and second["next"] is None
    assert [r["id"] for r in first["results"] + second["results"]] == [i.id for i in images]
    assert first["results"][0]["thumbnail_url"] == f"/api/v1/images/{images[0].id}/thumbnail"
    assert len(search(client, project, page_size=5)["results"]) == 5


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "rejected"}, [5, 11, 17, 23, 29]),
        ({"split": "val", "status": "new"}, [0, 6, 12]),
        ({"assignee": "andy_annotator"}, [3, 4, 5]),
        ({"assignee": "rita_reviewer"}, []),
        ({"has_pre_labels": "true", "split": "train"}, [16, 20, 24, 28]),
        ({"rejected": "true"}, [7, 11]),
        ({"q": "YARD_1"}, [10, 12, 14, 16, 18]),
        ({"q": "dock", "status": "pre_labeled"}, [1, 7, 13, 19, 25]),
    ],
)
def test_filters_and_search_combine(client_for, project, images, params, expected):
    body = search(client_for("reviewer"), project, **params)
    assert [r["id"] for r in body["results"]] == [images[n].id for n in expected]
    assert body["count"] == len(expected)


def test_the_negative_filters_and_the_flags_on_each_row(client_for, project, images):
    client = client_for("reviewer")
    free = search(client, project, assignee="none", page_size=100)
    assert free["count"] == 27 and images[6].id in [r["id"] for r in free["results"]]
    no_pre = search(client, project, has_pre_labels="false", page_size=100)
    assert no_pre["count"] == 22 and not any(r["has_pre_labels"] for r in no_pre["results"])
    row = search(client, project, q="dock_07")["results"][0]
    assert (row["rejected"], row["has_pre_labels"], row["status"]) == (True, False, "pre_labeled")


def test_orders(client_for, project, images):
    client = client_for("reviewer")
    assert names(search(client, project, order="name", page_size=3)) == [
        "dock_01.jpg",
        "dock_03.jpg",
        "dock_05.jpg",
    ]
    newest = search(client, project, order="-upload", page_size=2)
    assert [r["id"] for r in newest["results"]] == [images[29].id, images[28].id]
    by_uncertainty = search(client, project, order="uncertainty", page_size=100)["results"]
    assert by_uncertainty[0]["id"] == images[29].id and by_uncertainty[-1]["uncertainty"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "done"}, "status"),
        ({"split": "test"}, "split"),
        ({"order": "size"}, "order"),
        ({"has_pre_labels": "maybe"}, "has_pre_labels"),
        ({"rejected": "2"}, "rejected"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(client_for, project, images, params, field):
    response = client_for("annotator").get(f"/api/v1/projects/{project.id}/images/search", params)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


def test_outsiders_see_no_list(client_for, project, images):
    assert client_for("outsider").get(f"/api/v1/projects/{project.id}/images/search").status_code == 404
    assert client_for("outsider").get(f"/api/v1/images/{images[0].id}/neighbours").status_code == 404


def test_a_page_is_a_fixed_number_of_queries_whatever_its_rows_hold(client_for, project, images, users):
    client = client_for("reviewer")
    with CaptureQueriesContext(connection) as small:
        search(client, project, page_size=2, status="new")
    with CaptureQueriesContext(connection) as full:
        body = search(client, project, page_size=100, has_pre_labels="true", rejected="false", q="_")
    assert body["count"] == 8
    # project + role, count, the page (flags and lease holder in the same query)
    assert len(full.captured_queries) == len(small.captured_queries) == 3, "\n".join(
        q["sql"][:150] for q in full.captured_queries
    )


def neighbours(client, image, **params):
    response = client.get(f"/api/v1/images/{image.id}/neighbours", params)
    assert response.status_code == 200, response.json()
    return response.json()


def test_previous_and_next_follow_the_filtered_ordered_list(client_for, project, images):
    client = client_for("annotator")
    assert neighbours(client, images[0]) == {
        "previous": None,
        "next": images[1].id,
        "position": 1,
        "count": 30,
    }
    assert neighbours(client, images[29])["next"] is None
    # status=rejected: 5, 11, 17, 23, 29
    assert neighbours(client, images[11], status="rejected") == {
        "previous": images[5].id,
        "next": images[17].id,
        "position": 2,
        "count": 5,
    }
    # by name: dock_01, dock_03, ... dock_29, yard_00, yard_02 ...
    assert neighbours(client, images[29], order="name") == {
        "previous": images[27].id,
        "next": images[0].id,
        "position": 15,
        "count": 30,
    }
    # most uncertain first; ties (none here) break on id
    by_uncertainty = neighbours(client, images[28], order="uncertainty")
    assert (by_uncertainty["previous"], by_uncertainty["next"]) == (images[29].id, images[27].id)


def test_an_image_that_left_the_list_still_has_neighbours_around_its_place(client_for, project, images):
    # images[12] is new; in the list of rejected ones it has no place, but 11 and 17 are around it
    n = neighbours(client_for("annotator"), images[12], status="rejected")
    assert n == {"previous": images[11].id, "next": images[17].id, "position": None, "count": 5}


def test_neighbours_are_a_fixed_number_of_queries(client_for, project, images):
    client = client_for("annotator")
    with CaptureQueriesContext(connection) as queries:
        neighbours(client, images[11], status="rejected", q="_", order="name")
    # image + role, next, previous, count, in the list, position
    assert len(queries.captured_queries) == 6

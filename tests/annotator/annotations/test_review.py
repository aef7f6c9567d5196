"""Review that closes the loop: nobody accepts their own submission, fix and accept, the rejection
comment the annotator sees (annotate view and queue), and the lease holder named on a 409."""

import pytest

from annotator.annotations import services
from annotator.annotations.models import Revision
from annotator.projects.models import Image, ImageStatus
from tests.factories import make_image, square_shape


def box(project, x=10, y=10, size=20):
    return {"category": project.categories.first().id, "shape": square_shape(x, y, size)}


def submitted(project, user, shapes=None):
    image = make_image(project)
    image = services.annotations_save(
        image=image, annotations=shapes or [box(project)], user=user, expected_version=0
    )
    return services.image_submit(image=image, user=user, expected_version=image.version)


@pytest.mark.django_db
def test_a_reviewer_cannot_accept_their_own_submission(project, users, client_for):
    image = submitted(project, users["reviewer"])
    response = client_for("reviewer").post(
        f"/api/v1/images/{image.id}/review", {"decision": "accept"}, format="json"
    )
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "own_submission" and error["field"] == "decision"
    assert (
        error["message"] == f"You submitted image #{image.id}, so you cannot accept it: another reviewer must"
    )
    image.refresh_from_db()
    assert image.status == ImageStatus.SUBMITTED and image.version == 2
    # Another reviewer (the admin) may; and the submitter may still send their own work back.
    accepted = client_for("admin").post(
        f"/api/v1/images/{image.id}/review", {"decision": "accept"}, format="json"
    )
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"


@pytest.mark.django_db
def test_fix_and_accept_refuses_the_submitter_too(project, users, client_for):
    image = submitted(project, users["admin"])
    response = client_for("admin").post(
        f"/api/v1/images/{image.id}/fix-and-accept",
        {"expected_version": image.version, "annotations": [box(project, x=40)]},
        format="json",
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "own_submission"
    assert list(Revision.objects.filter(image=image).values_list("action", flat=True)) == ["save", "submit"]


@pytest.mark.django_db
def test_fix_and_accept_writes_a_save_revision_then_accepts(project, users, client_for):
    image = submitted(project, users["annotator"])
    fixed = [box(project, x=12, y=11, size=22), box(project, x=60)]
    response = client_for("reviewer").post(
        f"/api/v1/images/{image.id}/fix-and-accept",
        {"expected_version": image.version, "annotations": fixed, "comment": "tightened the box"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "accepted" and response.json()["version"] == 4
    revisions = list(Revision.objects.filter(image=image).order_by("version"))
    assert [(r.version, r.action, r.author.username) for r in revisions] == [
        (1, "save", "andy_annotator"),
        (2, "submit", "andy_annotator"),
        (3, "save", "rita_reviewer"),
        (4, "accept", "rita_reviewer"),
    ]
    assert revisions[3].comment == "tightened the box"
    assert [a["shape"] for a in revisions[2].annotations] == [f["shape"] for f in fixed]
    assert revisions[3].annotations == revisions[2].annotations
    current = client_for("annotator").get(f"/api/v1/images/{image.id}/annotations").json()
    assert [a["shape"] for a in current["annotations"]] == [f["shape"] for f in fixed]


@pytest.mark.django_db
def test_fix_and_accept_is_all_or_nothing(project, users, client_for):
    image = submitted(project, users["annotator"])
    url = f"/api/v1/images/{image.id}/fix-and-accept"
    bad = client_for("reviewer").post(
        url,
        {
            "expected_version": image.version,
            "annotations": [{"category": 999999, "shape": square_shape(1, 1, 5)}],
        },
        format="json",
    )
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "annotations[0].category"
    stale = client_for("reviewer").post(url, {"expected_version": 1, "annotations": []}, format="json")
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "version_conflict"
    annotator = client_for("annotator").post(
        url, {"expected_version": image.version, "annotations": []}, format="json"
    )
    assert annotator.status_code == 403
    image.refresh_from_db()
    assert image.status == ImageStatus.SUBMITTED and image.version == 2 and image.annotations.count() == 1
    # An image that is not submitted cannot be "fixed and accepted".
    draft = make_image(project, 1)
    not_submitted = client_for("reviewer").post(
        f"/api/v1/images/{draft.id}/fix-and-accept", {"expected_version": 0, "annotations": []}, format="json"
    )
    assert not_submitted.status_code == 409 and not_submitted.json()["error"]["code"] == "invalid_transition"


@pytest.mark.django_db
def test_the_rejection_comment_reaches_the_annotator_in_the_queue_and_the_review_state(
    project, users, client_for
):
    image = submitted(project, users["annotator"])
    services.image_review(
        image=image, user=users["reviewer"], decision="reject", comment="The left box misses its flap"
    )
    queued = client_for("annotator").post(f"/api/v1/projects/{project.id}/queue/next")
    assert queued.status_code == 200
    body = queued.json()
    assert body["id"] == image.id and body["status"] == "rejected"
    assert body["rejection"]["comment"] == "The left box misses its flap"
    assert body["rejection"]["by"] == "rita_reviewer" and body["rejection"]["at"]

    state = client_for("annotator").get(f"/api/v1/images/{image.id}/review").json()
    assert state["submitted_by"] == "andy_annotator"
    assert state["rejection"]["comment"] == "The left box misses its flap"

    listed = client_for("annotator").get(f"/api/v1/projects/{project.id}/rejections").json()
    assert [(r["image"], r["comment"], r["by"]) for r in listed] == [
        (image.id, "The left box misses its flap", "rita_reviewer")
    ]
    # It stays while the annotator fixes the image, and goes once it is submitted again.
    image = services.annotations_save(
        image=Image.objects.get(pk=image.pk),
        annotations=[box(project, x=30)],
        user=users["annotator"],
        expected_version=3,
    )
    assert (
        client_for("annotator").get(f"/api/v1/images/{image.id}/review").json()["rejection"]["comment"]
        == "The left box misses its flap"
    )
    services.image_submit(image=image, user=users["annotator"], expected_version=image.version)
    assert client_for("annotator").get(f"/api/v1/images/{image.id}/review").json() == {
        "submitted_by": "andy_annotator",
        "rejection": None,
    }
    assert client_for("annotator").get(f"/api/v1/projects/{project.id}/rejections").json() == []


@pytest.mark.django_db
def test_a_fresh_image_has_no_rejection_in_the_queue(project, users, client_for):
    make_image(project)
    body = client_for("annotator").post(f"/api/v1/projects/{project.id}/queue/next").json()
    assert body["rejection"] is None and body["status"] == "new"


@pytest.mark.django_db
def test_a_leased_image_names_its_holder_and_until_when(project, users, client_for):
    image = make_image(project)
    held = client_for("annotator").post(f"/api/v1/images/{image.id}/lease")
    assert held.status_code == 200
    other = client_for("reviewer").post(f"/api/v1/images/{image.id}/lease")
    assert other.status_code == 409
    error = other.json()["error"]
    assert error["code"] == "leased"
    assert error["lease"]["user"] == "andy_annotator"
    assert error["lease"]["expires_at"].startswith(held.json()["lease"]["expires_at"][:19])


@pytest.mark.django_db
def test_a_rejected_image_can_be_submitted_again_unchanged(project, users, client_for):
    """An annotator who disagrees with a rejection resubmits as is; the reviewer sees it again."""
    image = submitted(project, users["annotator"], [box(project)])
    rejected = services.image_review(
        image=image, user=users["reviewer"], decision="reject", comment="Is that really one box?"
    )
    shapes = [(a.category_id, a.shape) for a in rejected.annotations.order_by("id")]

    answer = client_for("annotator").post(
        f"/api/v1/images/{image.id}/submit", {"expected_version": rejected.version}, format="json"
    )

    assert answer.status_code == 200, answer.json()
    image.refresh_from_db()
    assert image.status == ImageStatus.SUBMITTED and image.version == rejected.version + 1
    assert [(a.category_id, a.shape) for a in image.annotations.order_by("id")] == shapes
    assert list(image.revisions.order_by("version").values_list("action", flat=True)) == [
        Revision.Action.SAVE,
        Revision.Action.SUBMIT,
        Revision.Action.REJECT,
        Revision.Action.SUBMIT,
    ]
    # Back in the reviewer's list of submitted images, with the rejection closed.
    listed = client_for("reviewer").get(f"/api/v1/projects/{project.id}/images", {"status": "submitted"})
    assert [row["id"] for row in listed.json()["results"]] == [image.id]
    assert client_for("annotator").get(f"/api/v1/images/{image.id}/review").json() == {
        "submitted_by": "andy_annotator",
        "rejection": None,
    }
    accepted = client_for("reviewer").post(
        f"/api/v1/images/{image.id}/review",
        {"decision": "accept", "expected_version": image.version},
        format="json",
    )
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"

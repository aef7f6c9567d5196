"""The annotation set's lifecycle: versioned saves, revisions, submit, review, leases."""

from datetime import timedelta

import pytest
from django.utils import timezone

from annotator.annotations import services
from annotator.annotations.models import Revision
from annotator.errors import ApplicationError, ConflictError
from annotator.projects.models import Image, ImageStatus
from tests.factories import make_image, square_shape


def box(project, x=10, y=10, size=20, **extra):
    return {"category": project.categories.first().id, "shape": square_shape(x, y, size), **extra}


@pytest.mark.django_db
def test_every_save_writes_a_revision_with_the_full_set(project, users):
    image = make_image(project)
    image = services.annotations_save(
        image=image, annotations=[box(project)], user=users["annotator"], expected_version=0
    )
    image = services.annotations_save(
        image=image,
        annotations=[box(project), box(project, x=50)],
        user=users["annotator"],
        expected_version=1,
    )
    assert image.version == 2 and image.status == ImageStatus.IN_PROGRESS
    revisions = list(Revision.objects.filter(image=image).order_by("version"))
    assert [(r.version, r.action, len(r.annotations)) for r in revisions] == [(1, "save", 1), (2, "save", 2)]
    assert revisions[1].author == users["annotator"]
    assert revisions[1].annotations[1]["shape"] == square_shape(50, 10, 20)
    assert revisions[1].annotations[1]["area"] == 400.0 and revisions[1].annotations[1]["bbox"] == [
        50,
        10,
        20,
        20,
    ]


@pytest.mark.django_db
def test_stale_expected_version_is_a_409_and_nothing_changes(project, users, client_for):
    image = make_image(project)
    services.annotations_save(
        image=image, annotations=[box(project)], user=users["annotator"], expected_version=0
    )

    response = client_for("annotator").put(
        f"/api/v1/images/{image.id}/annotations", {"expected_version": 0, "annotations": []}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "version_conflict",
        "field": "expected_version",
        "current_version": 1,
        "pre_label_only": False,
        "message": f"Image #{image.id} was changed by someone else: you have version 0, the server has version 1",
    }
    image.refresh_from_db()
    assert image.version == 1 and image.annotations.count() == 1
    assert Revision.objects.filter(image=image).count() == 1


@pytest.mark.django_db
def test_bad_shapes_are_rejected_naming_the_annotation(project, users, client_for):
    image = make_image(project)
    bad = {"category": project.categories.first().id, "shape": [[[[1, 1], [2, 2]]]]}
    response = client_for("annotator").put(
        f"/api/v1/images/{image.id}/annotations",
        {"expected_version": 0, "annotations": [box(project), bad]},
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "annotations[1].shape"
    assert "annotations[1]" in error["message"] and "3 distinct points" in error["message"]
    assert image.annotations.count() == 0 and Revision.objects.count() == 0


@pytest.mark.django_db
def test_shapes_are_clipped_to_the_image_and_holes_kept(project, users):
    image = make_image(project)
    with_hole = [[[[-10, -10], [60, -10], [60, 60], [-10, 60]], [[20, 20], [30, 20], [30, 30], [20, 30]]]]
    image = services.annotations_save(
        image=image,
        annotations=[{"category": project.categories.first().id, "shape": with_hole}],
        user=users["annotator"],
        expected_version=0,
    )
    saved = image.annotations.get()
    assert saved.bbox == [0, 0, 60, 60]
    assert saved.area == 60 * 60 - 100
    assert len(saved.shape[0]) == 2  # exterior + hole


@pytest.mark.django_db
def test_category_from_another_project_is_refused(project, users):
    from tests.factories import make_project

    other = make_project(admin=users["outsider"], name="Other")
    image = make_image(project)
    with pytest.raises(ApplicationError, match="not a category of this project"):
        services.annotations_save(
            image=image, annotations=[box(other)], user=users["annotator"], expected_version=0
        )


@pytest.mark.django_db
def test_submit_then_review_accept_and_reject(project, users):
    image = make_image(project)
    image = services.annotations_save(
        image=image, annotations=[box(project)], user=users["annotator"], expected_version=0
    )
    image = services.image_submit(image=image, user=users["annotator"], expected_version=1)
    assert image.status == ImageStatus.SUBMITTED

    with pytest.raises(ApplicationError, match="Say why"):
        services.image_review(image=image, user=users["reviewer"], decision="reject", comment=" ")
    image = services.image_review(
        image=image, user=users["reviewer"], decision="reject", comment="missed a box"
    )
    assert image.status == ImageStatus.REJECTED
    assert Revision.objects.get(image=image, action="reject").comment == "missed a box"

    image = services.annotations_save(
        image=image,
        annotations=[box(project), box(project, x=60)],
        user=users["annotator"],
        expected_version=image.version,
    )
    image = services.image_submit(image=image, user=users["annotator"], expected_version=image.version)
    image = services.image_review(image=image, user=users["reviewer"], decision="accept")
    assert image.status == ImageStatus.ACCEPTED
    assert [r.action for r in image.revisions.order_by("version")] == [
        "save",
        "submit",
        "reject",
        "save",
        "submit",
        "accept",
    ]


@pytest.mark.django_db
def test_status_machine_refuses_skipping_steps(project, users):
    image = make_image(project)
    with pytest.raises(ConflictError, match="'new' cannot become 'accepted'"):
        services.image_review(image=image, user=users["reviewer"], decision="accept")
    image.refresh_from_db()
    assert image.status == ImageStatus.NEW and image.version == 0


@pytest.mark.django_db
def test_annotators_cannot_edit_submitted_images_but_reviewers_can(project, users):
    image = make_image(project)
    image = services.image_submit(image=image, user=users["annotator"], expected_version=0)
    with pytest.raises(ConflictError, match="only reviewers"):
        services.annotations_save(
            image=image, annotations=[], user=users["annotator"], expected_version=image.version
        )
    image = services.annotations_save(
        image=image, annotations=[box(project)], user=users["reviewer"], expected_version=image.version
    )
    assert image.status == ImageStatus.SUBMITTED and image.annotations.count() == 1


@pytest.mark.django_db
def test_pre_label_never_overwrites_human_work(project, users):
    image = make_image(project)
    assert services.image_pre_label(image=image, instances=[box(project, source="model", score=0.9)])
    image.refresh_from_db()
    assert image.status == ImageStatus.PRE_LABELED and image.annotations.get().source == "model"
    services.annotations_save(
        image=image, annotations=[box(project, x=40)], user=users["annotator"], expected_version=image.version
    )
    image.refresh_from_db()
    assert not services.image_pre_label(image=image, instances=[box(project, source="model", score=0.5)])
    image.refresh_from_db()
    assert image.annotations.get().bbox == [40, 10, 20, 20]


@pytest.mark.django_db
def test_queue_leases_one_image_per_annotator_and_expiry_frees_it(project, users):
    from annotator.projects.models import Membership
    from tests.factories import UserFactory

    second = UserFactory(username="second_annotator")
    Membership.objects.create(project=project, user=second, role="annotator")
    a, b = make_image(project, 1, uncertainty=0.2), make_image(project, 2, uncertainty=0.9)

    first_claim = services.image_claim_next(project=project, user=users["annotator"])
    assert first_claim.id == b.id  # the most uncertain first
    assert services.image_claim_next(project=project, user=users["annotator"]).id == b.id  # same lease again
    assert services.image_claim_next(project=project, user=second).id == a.id
    assert services.image_claim_next(project=project, user=users["reviewer"]) is None

    with pytest.raises(ConflictError, match="leased by"):
        services.lease_renew(image=b, user=second)

    Image.objects.filter(pk=b.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert services.image_claim_next(project=project, user=users["reviewer"]).id == b.id

    services.lease_release(image=a, user=second)
    a.refresh_from_db()
    assert a.lease_user is None


@pytest.mark.django_db
def test_submit_releases_the_lease_and_leaves_the_queue(project, users):
    image = make_image(project)
    claimed = services.image_claim_next(project=project, user=users["annotator"])
    services.image_submit(image=claimed, user=users["annotator"], expected_version=0)
    image.refresh_from_db()
    assert image.lease_user is None
    assert services.image_claim_next(project=project, user=users["annotator"]) is None

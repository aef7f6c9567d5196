"""The annotation set's lifecycle: versioned saves, revisions, submit, review, leases."""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from annotator.annotations import services
from annotator.annotations.models import Revision
from annotator.errors import ApplicationError, ConflictError
from annotator.projects.models import Image, ImageStatus
from tests.factories import square_shape


def make_image(project, n: int = 0, **fields) -> Image:
    image = Image(project=project, name=f"img{n}.jpg", sha256=f"{n:064d}", width=100, height=80, **fields)
    image.file.save(f"img{n}.jpg", ContentFile(b"x"), save=False)
    image.save()
    return image


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
def test_the_diverse_queue_keeps_away_from_what_is_labelled_or_being_labelled(project, users):
    from annotator.projects.models import Membership
    from ml.active.ranking import DEFAULT_COLD_START
    from tests.factories import UserFactory

    assert project.queue_strategy == "uncertainty+diversity"
    pending = {"status": ImageStatus.PRE_LABELED}
    for n in range(DEFAULT_COLD_START):  # past the cold start: uncertainty and diversity decide
        make_image(
            project, 100 + n, status=ImageStatus.ACCEPTED, uncertainty=0.9, features=[1.0, 0.01 * n, 0.0]
        )
    next_frame = make_image(
        project, 2, uncertainty=0.9, features=[0.99, 0.05, 0.0], **pending
    )  # near-duplicate
    other = make_image(project, 3, uncertainty=0.6, features=[0.0, 1.0, 0.0], **pending)
    third = make_image(project, 4, uncertainty=0.5, features=[0.0, 0.05, 1.0], **pending)

    assert services.image_claim_next(project=project, user=users["annotator"]).id == other.id
    # What a colleague holds counts as covered too: the next claim is the third kind, not the duplicate.
    second = UserFactory(username="second_annotator")
    Membership.objects.create(project=project, user=second, role="annotator")
    Image.objects.filter(pk=other.pk).update(status=ImageStatus.IN_PROGRESS)
    assert services.image_claim_next(project=project, user=second).id == third.id
    project.queue_strategy = "uncertainty"
    project.save(update_fields=["queue_strategy"])
    third_annotator = UserFactory(username="third_annotator")
    Membership.objects.create(project=project, user=third_annotator, role="annotator")
    assert (
        services.image_claim_next(project=project, user=third_annotator).id == next_frame.id
    )  # plain uncertainty


@pytest.mark.django_db
def test_the_diverse_queue_compares_features_of_one_model_only(project):
    import numpy as np

    from annotator.annotations.selectors import queue_candidates
    from annotator.learning.models import ModelVersion
    from ml.active.ranking import DEFAULT_COLD_START, diverse_order

    old, new = (
        ModelVersion.objects.create(project=project, name=name, checkpoint="/x.pt") for name in ("v1", "v2")
    )
    labelled = [
        make_image(
            project,
            100 + n,
            status=ImageStatus.ACCEPTED,
            uncertainty=0.9,
            features_model=old,
            features=[1.0, 0.01 * n, 0.0],
        )
        for n in range(DEFAULT_COLD_START)
    ]
    rows = [(0.9, [0.99, 0.05, 0.0]), (0.6, [0.0, 1.0, 0.0]), (0.5, [0.0, 0.05, 1.0])]
    pool = [
        make_image(project, n, status=ImageStatus.PRE_LABELED, uncertainty=u, features=f, features_model=new)
        for n, (u, f) in enumerate(rows)
    ]
    stale = make_image(
        project,
        9,
        status=ImageStatus.PRE_LABELED,
        uncertainty=0.95,
        features=[0.0, 0.0, 1.0],
        features_model=old,
    )  # not re-scored yet after the promotion
    alone = diverse_order(np.array([u for u, _ in rows]), np.array([f for _, f in rows]))  # nothing labelled
    # the labelled images' features are v1's, the pool's v2's: the queue orders as if nothing were
    # labelled, and the pool image still on v1's features follows the re-ranked ones
    assert queue_candidates(project=project, now=timezone.now(), limit=10) == [pool[i].id for i in alone] + [
        stale.id
    ]
    Image.objects.filter(pk__in=[i.pk for i in labelled]).update(features_model=new)  # refreshed by v2
    first = queue_candidates(project=project, now=timezone.now(), limit=10)[0]
    assert first == pool[1].id  # now the near-duplicate of the labelled images goes after the other kind


@pytest.mark.django_db
def test_the_diverse_queue_puts_the_frame_with_more_predicted_instances_first(project):
    from annotator.annotations.selectors import queue_candidates
    from ml.active.ranking import DEFAULT_COLD_START

    for n in range(DEFAULT_COLD_START):  # past the cold start: the gains decide
        make_image(project, 100 + n, status=ImageStatus.ACCEPTED, features=[1.0, 0.0, 0.1, 0.01 * n])
    # as uncertain as each other; the crowded frame is a little nearer to the labelled images
    sparse = make_image(
        project,
        1,
        status=ImageStatus.PRE_LABELED,
        uncertainty=0.5,
        features=[0.0, 1.0, 0.0, 0.0],
        predicted_instances=1,
    )
    crowded = make_image(
        project,
        2,
        status=ImageStatus.PRE_LABELED,
        uncertainty=0.5,
        features=[0.0, 0.0, 1.0, 0.0],
        predicted_instances=9,
    )
    assert queue_candidates(project=project, now=timezone.now(), limit=10) == [crowded.id, sparse.id]
    Image.objects.filter(pk=crowded.pk).update(predicted_instances=1)  # as sparse: distance alone decides
    assert queue_candidates(project=project, now=timezone.now(), limit=10) == [sparse.id, crowded.id]


@pytest.mark.django_db
def test_submit_releases_the_lease_and_leaves_the_queue(project, users):
    image = make_image(project)
    claimed = services.image_claim_next(project=project, user=users["annotator"])
    services.image_submit(image=claimed, user=users["annotator"], expected_version=0)
    image.refresh_from_db()
    assert image.lease_user is None
    assert services.image_claim_next(project=project, user=users["annotator"]) is None

"""The queue's order (``annotations.ranking``): uncertainty, diversity from what is labelled, content."""

import numpy as np
import pytest
from django.utils import timezone

from annotator.annotations import services
from annotator.annotations.selectors import queue_candidates
from annotator.learning.models import ModelVersion
from annotator.projects.models import Image, ImageStatus, Membership
from ml.active.ranking import DEFAULT_COLD_START, diverse_order
from tests.factories import UserFactory, make_image


@pytest.mark.django_db
def test_the_diverse_queue_keeps_away_from_what_is_labelled_or_being_labelled(project, users):
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

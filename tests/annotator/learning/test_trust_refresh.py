"""The trust gate's refresh (issue 28): one waiting per project, and never learned inside a request.

Real database with committed rows (the flag's conditional UPDATEs decide what is queued) and a real
broker of the test's own: ``broker_take_all`` reads what reached it, and each message taken is run in
this process as a worker runs it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models.signals import pre_save
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotator.celery import app
from annotator.learning.models import ModelVersion, TrustGate, TrustGateRefresh
from annotator.learning.registry import version_promote, version_rollback
from annotator.learning.trust_refresh import REFRESH_TRUST_GATE, STALE_AFTER, trust_gate_schedule_update
from tests.annotator.learning.test_trust_gate import good, review_images
from tests.conftest import broker_take_all, refusing_broker
from tests.factories import make_active_version

pytestmark = pytest.mark.django_db(transaction=True)


def queued_refreshes() -> list[tuple[str, tuple]]:
    """The trust-gate refreshes that reached the broker since the last call (taken off it)."""
    return [message for message in broker_take_all() if message[0] == REFRESH_TRUST_GATE]


def run(messages: list[tuple[str, tuple]]) -> None:
    """Run the tasks taken off the broker, in order, as a worker would."""
    app.loader.import_default_modules()  # the task modules, as a worker imports them at start
    for name, args in messages:
        app.tasks[name].apply(args=args, throw=True)


def gate_of(version) -> TrustGate:
    return TrustGate.objects.get(model_version=version)


def test_reviews_in_a_row_queue_one_refresh_and_after_it_ran_the_next_review_queues_again(
    project, users, broker
):
    version = make_active_version(project)
    review_images(project, users, version, 5, good)

    queued = queued_refreshes()
    assert queued == [(REFRESH_TRUST_GATE, (project.pk,))]
    run(queued)
    assert gate_of(version).reviewed_images == 5  # the one refresh read all five reviews
    assert queued_refreshes() == []

    review_images(project, users, version, 1, good, first=5)
    queued = queued_refreshes()
    assert queued == [(REFRESH_TRUST_GATE, (project.pk,))]
    run(queued)
    assert gate_of(version).reviewed_images == 6


def test_a_review_while_the_refresh_runs_queues_one_more_that_reads_it(project, users, broker):
    version = make_active_version(project)
    review_images(project, users, version, 3, good)
    queued = queued_refreshes()
    late = []

    def review_once_the_refresh_has_read(**_):
        # The running refresh has read the reviewed images and is storing the gate: this one comes too late for it.
        if not late:
            late.extend(review_images(project, users, version, 1, good, first=3))

    pre_save.connect(review_once_the_refresh_has_read, sender=TrustGate, weak=False, dispatch_uid="late")
    try:
        run(queued)
    finally:
        pre_save.disconnect(sender=TrustGate, dispatch_uid="late")
    assert late and gate_of(version).reviewed_images == 3

    follow_up = queued_refreshes()
    assert follow_up == [(REFRESH_TRUST_GATE, (project.pk,))]
    run(follow_up)
    assert gate_of(version).reviewed_images == 4
    assert queued_refreshes() == []


def test_a_waiting_flag_holds_reviews_back_until_it_is_stale(project, users, broker):
    version = make_active_version(project)
    # As a refresh whose message never reached a worker leaves it.
    TrustGateRefresh.objects.create(project=project, queued_at=timezone.now() - STALE_AFTER / 2)
    review_images(project, users, version, 1, good)
    assert queued_refreshes() == []

    TrustGateRefresh.objects.filter(project=project).update(
        queued_at=timezone.now() - STALE_AFTER - timedelta(seconds=1)
    )
    review_images(project, users, version, 1, good, first=1)
    assert queued_refreshes() == [(REFRESH_TRUST_GATE, (project.pk,))]


def test_a_refresh_the_broker_refused_does_not_hold_the_next_review_back(project, users, broker, tmp_path):
    version = make_active_version(project)
    with refusing_broker(tmp_path):
        assert trust_gate_schedule_update(project=project)  # claimed the flag; the send was refused
    assert TrustGateRefresh.objects.get(project=project).queued_at is None  # the flag was given back

    review_images(project, users, version, 1, good)  # the broker is back: the next review queues a refresh
    queued = queued_refreshes()
    assert queued == [(REFRESH_TRUST_GATE, (project.pk,))]
    run(queued)
    assert gate_of(version).reviewed_images == 1


def test_a_promotion_and_a_rollback_queue_the_gate_instead_of_learning_it_under_the_projects_lock(
    project, users, broker
):
    first = make_active_version(project)
    review_images(project, users, first, 2, good)
    run(queued_refreshes())
    second = ModelVersion.objects.create(
        project=project, parent=first, name="warehouse-a-v2", checkpoint="unused.pt", prelabel_threshold=0.5
    )
    second.status = ModelVersion.Status.READY
    second.save(update_fields=["status"])

    version_promote(version=second, confirm_worse=True)
    assert not TrustGate.objects.filter(model_version=second).exists()  # nothing learned in the promotion
    queued = queued_refreshes()
    assert queued == [(REFRESH_TRUST_GATE, (project.pk,))]
    run(queued)
    assert TrustGate.objects.filter(model_version=second).exists()

    version_rollback(project=project)
    assert queued_refreshes() == [(REFRESH_TRUST_GATE, (project.pk,))]


def test_a_never_computed_gate_answers_the_default_at_once_and_the_queued_refresh_learns_it(
    project, users, client_for, broker
):
    version = make_active_version(project)
    url = f"/api/v1/projects/{project.pk}/trust-gate"

    with CaptureQueriesContext(connection) as queries:
        body = client_for("annotator").get(url).json()
    active = body["active"]
    assert (active["mode"], active["threshold"], active["learned"], active["reviewed_images"]) == (
        "prelabel",
        0.5,
        False,
        0,
    )
    assert active["computed_at"] is None and active["curve"] == []
    assert active["reason"] == (
        "being learned from the project's reviewed images; until then the model's calibrated default "
        "0.50 applies"
    )
    assert active["applied"] == {"mode": "prelabel", "threshold": 0.5, "pinned": False}
    assert body["versions"] == []
    # Nothing learned in the request: no reviewed image read, no gate stored; a refresh queued instead.
    assert not [q["sql"] for q in queries.captured_queries if "learning_prediction" in q["sql"]]
    assert not TrustGate.objects.exists()
    queued = queued_refreshes()
    assert queued == [(REFRESH_TRUST_GATE, (project.pk,))]

    # While it waits, reviews and reads queue nothing more: it reads every review when it runs.
    review_images(project, users, version, 20, good)
    assert client_for("annotator").get(url).json()["active"]["computed_at"] is None
    assert queued_refreshes() == []
    run(queued)

    body = client_for("annotator").get(url).json()
    active = body["active"]
    assert (active["mode"], active["learned"], active["reviewed_images"]) == ("prelabel", True, 20)
    assert active["computed_at"] is not None and "pre-labels scoring" in active["reason"]
    assert 0.21 < active["threshold"] <= 0.88
    assert [v["model_version"]["id"] for v in body["versions"]] == [version.id]
    assert queued_refreshes() == []

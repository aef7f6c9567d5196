"""Queueing the trust gate's recomputation, at most one waiting per project (issue 28).

Every accepted review asks for a refresh, and a reviewer accepting 50 images would otherwise queue
50 identical recomputations. A refresh is queued only by whoever turns ``TrustGateRefresh.queued_at``
from empty to set, in one conditional UPDATE whose row count decides; the task empties it, committed,
before it reads the reviewed images. So a review committed while a refresh waits is read by that
refresh, and one that arrives after it started queues the next: no review is left out. The flag lives
in the database because the demo runs on SQLite and a filesystem broker, with no cache server.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from annotator.jobs.enqueue import enqueue
from annotator.projects.models import Project

from .models import TrustGateRefresh

REFRESH_TRUST_GATE = "annotator.learning.tasks.refresh_trust_gate"
# A flag this old no longer holds reviews back: its message was lost after the broker took it (a refused
# send clears the flag at once), or the queue is so far behind that one more refresh costs nothing next
# to the wait.
STALE_AFTER = timedelta(minutes=10)


def trust_gate_schedule_update(*, project: Project) -> bool:
    """Queue ``refresh_trust_gate`` for the project unless one is queued and not started; True if queued."""
    if not _claim(project):
        return False
    # a message the broker refused must not hold the flag, or reviews would queue nothing for STALE_AFTER
    enqueue(REFRESH_TRUST_GATE, project.pk, on_failure=lambda: trust_gate_refresh_started(project=project))
    return True


def trust_gate_refresh_started(*, project: Project) -> None:
    """The queued refresh begins: a review from now on queues another. Call it outside a transaction."""
    TrustGateRefresh.objects.filter(project=project).update(queued_at=None)


def _claim(project: Project) -> bool:
    """Set the project's flag if it is empty (or stale); True for the one caller that set it."""
    now = timezone.now()
    free = Q(queued_at__isnull=True) | Q(queued_at__lt=now - STALE_AFTER)
    if TrustGateRefresh.objects.filter(free, project=project).update(queued_at=now):
        return True
    if TrustGateRefresh.objects.filter(project=project).exists():
        return False  # a refresh is waiting: it will read this project's reviews when it starts
    try:
        with transaction.atomic():
            TrustGateRefresh.objects.create(project=project, queued_at=now)
    except IntegrityError:
        return False  # another caller created the row first, and queued the refresh
    return True

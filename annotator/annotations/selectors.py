"""Reads on annotation sets and the annotator's queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from annotator.projects.models import Image, ImageStatus, Project

from .models import Annotation, Revision
from .ranking import rank_for_queue

QUEUE_STATUSES = (ImageStatus.REJECTED, ImageStatus.PRE_LABELED, ImageStatus.NEW, ImageStatus.IN_PROGRESS)


def annotation_set_json(image: Image) -> list[dict[str, Any]]:
    """The current set as plain JSON (what revisions store and the API returns)."""
    return [annotation_json(a) for a in Annotation.objects.filter(image=image).order_by("id")]


def annotation_json(annotation: Annotation) -> dict[str, Any]:
    return {
        "id": annotation.id,
        "category": annotation.category_id,
        "shape": annotation.shape,
        "source": annotation.source,
        "score": annotation.score,
        "bbox": annotation.bbox,
        "area": annotation.area,
    }


def revisions_for_image(*, image: Image) -> QuerySet[Revision]:
    return image.revisions.select_related("author").order_by("-version", "-id")


def free_images(*, project: Project, now: datetime) -> QuerySet[Image]:
    """Images an annotator could pick up now: in a work state and not leased by anyone."""
    return project.images.filter(status__in=QUEUE_STATUSES).filter(
        Q(lease_user__isnull=True) | Q(lease_expires_at__lte=now)
    )


def queue_candidates(*, project: Project, now: datetime, limit: int) -> list[int]:
    """Ids of free images, most useful first, by the project's queue strategy.

    Rejected images come back first (someone is waiting on the fix); then the strategy:
    ``uncertainty`` and ``uncertainty+diversity`` rank by the active model's uncertainty
    (the diversity re-ranking of a batch is in ``annotations.ranking``), ``random``
    shuffles, ``fifo`` keeps upload order.
    """
    free = free_images(project=project, now=now)
    rejected = list(
        free.filter(status=ImageStatus.REJECTED)
        .order_by("status_changed_at")
        .values_list("id", flat=True)[:limit]
    )
    rest = free.exclude(status=ImageStatus.REJECTED)
    strategy = project.queue_strategy
    if strategy == Project.QueueStrategy.FIFO:
        ordered = rest.order_by("id")
    elif strategy == Project.QueueStrategy.RANDOM:
        ordered = rest.order_by("?")
    else:
        ordered = rank_for_queue(images=rest, project=project)
    return rejected + list(ordered.values_list("id", flat=True)[: max(0, limit - len(rejected))])


# --------------------------------------------------------------------------- review state

REVIEW_ACTIONS = (Revision.Action.SUBMIT, Revision.Action.ACCEPT, Revision.Action.REJECT)


def review_state(*, image: Image) -> dict[str, Any]:
    """Who submitted the image last, and the rejection the annotator still has to act on (or None).

    A rejection stays "open" until the image is submitted again: the latest of the image's
    submit / accept / reject revisions is a reject.
    """
    last_submit = (
        image.revisions.filter(action=Revision.Action.SUBMIT)
        .select_related("author")
        .order_by("-version")
        .first()
    )
    return {
        "submitted_by": _username(last_submit.author) if last_submit else None,
        "rejection": open_rejections(image_ids=[image.pk]).get(image.pk),
    }


def open_rejections(
    *, image_ids: list[int] | None = None, project: Project | None = None
) -> dict[int, dict[str, Any]]:
    """image id -> its open rejection ``{"comment", "by", "at"}``, for images whose last review step is
    a reject: the given images, or those of ``project`` back in work (rejected or in progress)."""
    latest: dict[int, Revision] = {}
    revisions = Revision.objects.filter(action__in=REVIEW_ACTIONS)
    if image_ids is not None:
        revisions = revisions.filter(image_id__in=image_ids)
    if project is not None:
        revisions = revisions.filter(
            image__project=project, image__status__in=[ImageStatus.REJECTED, ImageStatus.IN_PROGRESS]
        )
    rows = (
        revisions.select_related("author")
        .only("image_id", "version", "action", "comment", "created_at", "author__username")
        .order_by("image_id", "version")
    )
    for rev in rows:
        latest[rev.image_id] = rev
    return {
        image_id: {"comment": rev.comment, "by": _username(rev.author), "at": rev.created_at}
        for image_id, rev in latest.items()
        if rev.action == Revision.Action.REJECT
    }


def _username(user) -> str | None:
    return user.username if user is not None else None

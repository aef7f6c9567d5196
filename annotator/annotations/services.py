"""Writes on an image's annotation set: save, submit, review, and the annotator's lease.

Every write locks the image row, checks ``expected_version``, bumps the version and records a
``Revision`` with the full set, all in one transaction: a stale writer gets a 409 carrying the
current version and nothing is written.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from annotator.errors import ApplicationError, ConflictError, ForbiddenError
from annotator.projects.models import (
    ROLE_RANK,
    Category,
    Image,
    ImageStatus,
    InvalidTransition,
    Project,
    Role,
)
from annotator.projects.permissions import check_role, member_role, require_role
from ml import geometry

from .models import Annotation, Revision, Source
from .selectors import annotation_json, annotation_set_json, queue_candidates
from .signals import image_reviewed

EDITABLE_BY_ANNOTATORS = {
    ImageStatus.NEW,
    ImageStatus.PRE_LABELED,
    ImageStatus.IN_PROGRESS,
    ImageStatus.REJECTED,
}


def annotations_save(
    *,
    image: Image,
    annotations: list[dict[str, Any]],
    user,
    expected_version: int,
    action: str = Revision.Action.SAVE,
    comment: str = "",
) -> Image:
    """Replace the image's annotation set atomically; returns the image at its new version.

    The returned image carries ``annotation_set``: the new set as JSON, what its Revision holds.
    """
    cleaned = clean_annotations(image=image, annotations=annotations)
    with transaction.atomic():
        locked = _lock(image, expected_version, user=user)
        role = (
            check_role(role=locked.user_role, project=locked.project, minimum=Role.ANNOTATOR)
            if user
            else Role.ADMIN
        )
        if locked.status not in EDITABLE_BY_ANNOTATORS and ROLE_RANK[Role(role)] < ROLE_RANK[Role.REVIEWER]:
            raise ConflictError(
                f"Image #{locked.pk} is {locked.status}; only reviewers can change it now",
                code="not_editable",
                field="status",
            )
        if locked.status in (ImageStatus.NEW, ImageStatus.PRE_LABELED, ImageStatus.REJECTED):
            locked.transition_to(ImageStatus.IN_PROGRESS)
        annotation_set = _replace_set(locked, cleaned)
        return _bump(locked, user=user, action=action, comment=comment, annotation_set=annotation_set)


def clean_annotations(*, image: Image, annotations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate categories, scores and shapes; repair shapes; raise naming the bad annotation."""
    if not isinstance(annotations, list):
        raise ApplicationError("annotations must be a list", field="annotations")
    categories = {
        pk: pk for pk in Category.objects.filter(project_id=image.project_id).values_list("id", flat=True)
    }
    sources = set(Source.values)
    cleaned = []
    for index, item in enumerate(annotations):
        label = f"annotations[{index}]"
        if not isinstance(item, dict):
            raise ApplicationError(f"{label} must be an object", field=label)
        category = categories.get(item.get("category")) if _hashable(item.get("category")) else None
        if category is None:
            raise ApplicationError(
                f"{label}: category {item.get('category')!r} is not a category of this project",
                field=f"{label}.category",
            )
        source = item.get("source", Source.MANUAL)
        if not _hashable(source) or source not in sources:
            raise ApplicationError(f"{label}: unknown source {source!r}", field=f"{label}.source")
        score = item.get("score")
        if score is not None and (not isinstance(score, int | float) or not 0.0 <= float(score) <= 1.0):
            raise ApplicationError(f"{label}: score must be a number between 0 and 1", field=f"{label}.score")
        try:
            shape = geometry.clean_shape(
                item.get("shape"), width=image.width, height=image.height, label=label
            )
        except geometry.GeometryError as exc:
            raise ApplicationError(str(exc), field=f"{label}.shape", code="invalid_shape") from exc
        cleaned.append(
            {
                "category_id": category,
                "shape": shape,
                "source": source,
                "score": None if score is None else float(score),
                "bbox": geometry.shape_bbox(shape),
                "area": geometry.shape_area(shape),
            }
        )
    return cleaned


def _hashable(value: Any) -> bool:
    return value is None or isinstance(value, int | float | str)


def image_submit(*, image: Image, user, expected_version: int) -> Image:
    with transaction.atomic():
        locked = _lock(image, expected_version, user=user)
        check_role(role=locked.user_role, project=locked.project, minimum=Role.ANNOTATOR)
        _transition(locked, ImageStatus.SUBMITTED)
        locked.lease_user = None
        locked.lease_expires_at = None
        return _bump(locked, user=user, action=Revision.Action.SUBMIT)


def image_review(
    *, image: Image, user, decision: str, comment: str = "", expected_version: int | None = None
) -> Image:
    """Accept or reject a submitted image; a rejection needs a comment so the annotator knows why."""
    if decision not in ("accept", "reject"):
        raise ApplicationError("decision must be 'accept' or 'reject'", field="decision")
    if decision == "reject" and not comment.strip():
        raise ApplicationError("Say why the image is rejected", field="comment")
    with transaction.atomic():
        locked = _lock(image, expected_version, user=user)
        check_role(role=locked.user_role, project=locked.project, minimum=Role.REVIEWER)
        if decision == "accept":
            _refuse_own_submission(locked, user)
        _transition(locked, ImageStatus.ACCEPTED if decision == "accept" else ImageStatus.REJECTED)
        action = Revision.Action.ACCEPT if decision == "accept" else Revision.Action.REJECT
        return _reviewed(locked, user=user, action=action, comment=comment, decision=decision)


def image_fix_and_accept(
    *, image: Image, annotations: list[dict[str, Any]], user, expected_version: int, comment: str = ""
) -> Image:
    """A reviewer's small fixes, then accept, in one transaction: a ``save`` revision with the fixed
    set (as any save writes), then the ``accept`` revision. Either both are written or neither."""
    cleaned = clean_annotations(image=image, annotations=annotations)
    with transaction.atomic():
        locked = _lock(image, expected_version, user=user)
        check_role(role=locked.user_role, project=locked.project, minimum=Role.REVIEWER)
        if locked.status != ImageStatus.SUBMITTED:
            raise ConflictError(
                f"Image #{locked.pk} is {locked.status}: only a submitted image can be fixed and accepted",
                code="invalid_transition",
                field="status",
            )
        _refuse_own_submission(locked, user)
        annotation_set = _replace_set(locked, cleaned)
        _bump(locked, user=user, action=Revision.Action.SAVE, annotation_set=annotation_set)
        _transition(locked, ImageStatus.ACCEPTED)
        return _reviewed(
            locked,
            user=user,
            action=Revision.Action.ACCEPT,
            comment=comment,
            decision="accept",
            annotation_set=annotation_set,
        )


def _refuse_own_submission(image: Image, user) -> None:
    """Nobody accepts their own submission: the last submitter needs another reviewer (403)."""
    submitter = (
        image.revisions.filter(action=Revision.Action.SUBMIT)
        .order_by("-version")
        .values_list("author_id", flat=True)
        .first()
    )
    if user is not None and submitter is not None and submitter == user.pk:
        raise ForbiddenError(
            f"You submitted image #{image.pk}, so you cannot accept it: another reviewer must",
            code="own_submission",
            field="decision",
        )


def _reviewed(
    image: Image,
    *,
    user,
    action: str,
    comment: str,
    decision: str,
    annotation_set: list[dict[str, Any]] | None = None,
) -> Image:
    """Record the review (a revision) and tell the upper apps once it is committed."""
    reviewed = _bump(image, user=user, action=action, comment=comment, annotation_set=annotation_set)
    project = image.project
    transaction.on_commit(
        lambda: image_reviewed.send(sender=Image, project=project, image_id=reviewed.pk, decision=decision)
    )
    return reviewed


def image_pre_label(*, image: Image, instances: list[dict[str, Any]]) -> bool:
    """Write model pre-labels as the image's set, only if no person has touched it yet.

    Returns False (and writes nothing) when the image already left the ``new`` / ``pre_labeled``
    states, so a late prediction never overwrites human work.
    """
    cleaned = clean_annotations(image=image, annotations=instances)
    with transaction.atomic():
        locked = Image.objects.select_for_update().get(pk=image.pk)
        if locked.status not in (ImageStatus.NEW, ImageStatus.PRE_LABELED):
            return False
        if locked.revisions.exclude(action=Revision.Action.PRE_LABEL).exists():
            return False
        locked.transition_to(ImageStatus.PRE_LABELED)
        annotation_set = _replace_set(locked, cleaned)
        _bump(locked, user=None, action=Revision.Action.PRE_LABEL, annotation_set=annotation_set)
        return True


# --------------------------------------------------------------------------- leases and the queue


def image_claim_next(*, project: Project, user) -> Image | None:
    """Lease the most useful image nobody else holds; keeps returning the caller's own open lease."""
    require_role(user=user, project=project, minimum=Role.ANNOTATOR)
    now = timezone.now()
    own = (
        project.images.filter(lease_user=user, lease_expires_at__gt=now, status__in=EDITABLE_BY_ANNOTATORS)
        .order_by("lease_expires_at")
        .first()
    )
    if own:
        return lease_renew(image=own, user=user)
    for candidate_id in queue_candidates(project=project, now=now, limit=50):
        # Compare-and-set: only one concurrent claimer can flip a free lease to itself.
        claimed = (
            Image.objects.filter(pk=candidate_id, status__in=EDITABLE_BY_ANNOTATORS)
            .filter(Q(lease_user__isnull=True) | Q(lease_expires_at__lte=now) | Q(lease_user=user))
            .update(lease_user=user, lease_expires_at=now + _lease_duration())
        )
        if claimed:
            return Image.objects.get(pk=candidate_id)
    return None


def lease_renew(*, image: Image, user) -> Image:
    require_role(user=user, project=image.project, minimum=Role.ANNOTATOR)
    now = timezone.now()
    renewed = (
        Image.objects.filter(pk=image.pk)
        .filter(Q(lease_user=user) | Q(lease_user__isnull=True) | Q(lease_expires_at__lte=now))
        .update(lease_user=user, lease_expires_at=now + _lease_duration())
    )
    if not renewed:
        image.refresh_from_db()
        if not image.lease_is_active():  # released or expired since the update: take it now
            return lease_renew(image=image, user=user)
        holder = image.lease_user.username if image.lease_user else None
        raise ConflictError(
            f"Image #{image.pk} is leased by {holder} until {image.lease_expires_at:%H:%M:%S} UTC",
            code="leased",
            field="lease",
            extra={"lease": {"user": holder, "expires_at": image.lease_expires_at.isoformat()}},
        )
    return Image.objects.get(pk=image.pk)


def lease_release(*, image: Image, user) -> None:
    Image.objects.filter(pk=image.pk, lease_user=user).update(lease_user=None, lease_expires_at=None)


def _lease_duration() -> timedelta:
    return timedelta(seconds=settings.ANNOTATOR["LEASE_SECONDS"])


def annotation_set_replace(
    *, image: Image, cleaned: list[dict[str, Any]], user, action: str, comment: str = ""
) -> Image:
    """Replace the set of an image the caller has locked (``select_for_update``) and record a Revision.

    For services in other apps (e.g. COCO import) that validate with ``clean_annotations`` and
    manage the status themselves; bumps the version like every other write. Of the image's own
    fields only those in ``BUMP_FIELDS`` (status, lease, version) are written.
    """
    annotation_set = _replace_set(image, cleaned)
    return _bump(image, user=user, action=action, comment=comment, annotation_set=annotation_set)


# --------------------------------------------------------------------------- internals


def _lock(image: Image, expected_version: int | None, *, user=None) -> Image:
    """The image row locked for this transaction, with its project and ``user_role`` (the user's role in it).

    Only the image row is locked (``of``): saves of other images of the project never wait on each other.
    """
    locked = (
        Image.objects.select_for_update(of=("self",)).defer("features").annotate(user_role=member_role(user))
    )
    if Image.project.is_cached(image):  # the caller's copy will do (the project row is not locked)
        locked = locked.get(pk=image.pk)
        locked.project = image.project
    else:
        locked = locked.select_related("project").get(pk=image.pk)
    if expected_version is not None and locked.version != expected_version:
        # Only model pre-labels landed since the caller's version (no person saved): the client
        # offers them instead of saying "someone else saved this image".
        pre_label_only = (
            locked.version > expected_version
            and not locked.revisions.filter(version__gt=expected_version)
            .exclude(action=Revision.Action.PRE_LABEL)
            .exists()
        )
        raise ConflictError(
            f"Image #{locked.pk} got its model pre-labels (version {locked.version}) after you opened "
            f"version {expected_version}"
            if pre_label_only
            else f"Image #{locked.pk} was changed by someone else: you have version {expected_version}, "
            f"the server has version {locked.version}",
            code="version_conflict",
            field="expected_version",
            extra={"current_version": locked.version, "pre_label_only": pre_label_only},
        )
    return locked


def _transition(image: Image, status: str) -> None:
    try:
        image.transition_to(status)
    except InvalidTransition as exc:
        raise ConflictError(str(exc), code="invalid_transition", field="status") from exc


def _replace_set(image: Image, cleaned: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Swap the set for ``cleaned``; returns the new set as JSON (``annotation_set_json``) without re-reading it."""
    image.annotations.all().delete()
    created = Annotation.objects.bulk_create([Annotation(image=image, **item) for item in cleaned])
    if any(a.pk is None for a in created):  # a backend that cannot return ids from a bulk insert
        return annotation_set_json(image)
    return [annotation_json(a) for a in sorted(created, key=lambda a: a.pk)]


# The image fields the services in this module change; a full save() would also rewrite every other
# column (features, uncertainty, ...) from what was read under the lock.
BUMP_FIELDS = ["version", "status", "status_changed_at", "lease_user", "lease_expires_at", "updated_at"]


def _bump(
    image: Image, *, user, action: str, comment: str = "", annotation_set: list[dict[str, Any]] | None = None
) -> Image:
    """+1 on the version and a Revision with the full set (``annotation_set`` when the caller just wrote it)."""
    if annotation_set is None:
        annotation_set = annotation_set_json(image)
    image.version += 1
    image.save(update_fields=BUMP_FIELDS)
    try:
        # No savepoint (two round trips per save): on a conflict the whole transaction must go anyway,
        # since the version bump above would otherwise be kept without its revision.
        Revision.objects.create(
            image=image,
            version=image.version,
            author=user if user and user.is_authenticated else None,
            action=action,
            annotations=annotation_set,
            comment=comment,
        )
    except IntegrityError as exc:  # the unique (image, version) constraint: a concurrent writer won
        transaction.set_rollback(True)
        raise ConflictError(
            f"Image #{image.pk} was changed by someone else at the same moment; reload and retry",
            code="version_conflict",
            field="expected_version",
            extra={"current_version": image.version},
        ) from exc
    image.annotation_set = annotation_set
    return image

"""Find any image: the project's image list filtered, searched and ordered, and an image's neighbours in it.

A read model across apps (an image's pre-labels are ``learning`` rows, its rejections are
``annotations`` revisions), so it lives in ``web``. One query per page: the flags are ``Exists``
subqueries, the lease holder a join.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, F, FloatField, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotator.annotations.models import Revision
from annotator.errors import ApplicationError
from annotator.learning.models import Prediction
from annotator.projects.models import Image, ImageStatus, Project
from annotator.projects.selectors import IMAGE_LIST_COLUMNS

# order name -> (sort key expression's alias, descending?); ties break on id in the same direction.
ORDERS = {
    "upload": ("id", False),
    "-upload": ("id", True),
    "name": ("name", False),
    "-name": ("name", True),
    "uncertainty": ("sort_uncertainty", True),  # most uncertain first; unscored last
    "changed": ("status_changed_at", True),  # most recently changed status first
}
NO_ASSIGNEE = "none"


@dataclass(frozen=True)
class ImageFilter:
    """What the list shows: every field optional; ``assignee`` is the active lease holder ("none": free)."""

    status: str = ""
    split: str = ""
    assignee: str = ""
    has_pre_labels: bool | None = None
    rejected: bool | None = None
    search: str = ""
    order: str = "upload"

    def __post_init__(self) -> None:
        if self.status and self.status not in ImageStatus.values:
            raise ApplicationError(
                f"Unknown status '{self.status}'; use one of {', '.join(ImageStatus.values)}", field="status"
            )
        if self.split and self.split not in ("train", "val", "unassigned"):
            raise ApplicationError(
                f"Unknown split '{self.split}'; use train, val or unassigned", field="split"
            )
        if self.order not in ORDERS:
            raise ApplicationError(
                f"Unknown order '{self.order}'; use one of {', '.join(ORDERS)}", field="order"
            )


def image_browse(*, project: Project, filters: ImageFilter, now: datetime | None = None) -> QuerySet[Image]:
    """The project's images matching ``filters``, in their order, with ``has_pre_labels`` and ``was_rejected``."""
    now = now or timezone.now()
    images = (
        Image.objects.filter(project=project)
        .select_related("lease_user")
        .only(*IMAGE_LIST_COLUMNS)
        .annotate(
            has_pre_labels=Exists(Prediction.objects.filter(image=OuterRef("pk"))),
            was_rejected=Exists(Revision.objects.filter(image=OuterRef("pk"), action=Revision.Action.REJECT)),
        )
    )
    if filters.status:
        images = images.filter(status=filters.status)
    if filters.split:
        images = images.filter(split="" if filters.split == "unassigned" else filters.split)
    if filters.assignee == NO_ASSIGNEE:
        images = images.exclude(lease_user__isnull=False, lease_expires_at__gt=now)
    elif filters.assignee:
        images = images.filter(lease_user__username=filters.assignee, lease_expires_at__gt=now)
    if filters.has_pre_labels is not None:
        images = images.filter(has_pre_labels=filters.has_pre_labels)
    if filters.rejected is not None:
        images = images.filter(was_rejected=filters.rejected)
    if filters.search.strip():
        images = images.filter(name__icontains=filters.search.strip())
    key, descending = ORDERS[filters.order]
    if key == "sort_uncertainty":
        images = images.annotate(
            sort_uncertainty=Coalesce(F("uncertainty"), Value(-1.0), output_field=FloatField())
        )
    return images.order_by(*((f"-{key}", "-id") if descending else (key, "id")))


@dataclass(frozen=True)
class Neighbours:
    previous: int | None
    next: int | None
    position: int | None  # 1-based place of the image in the list; None when it no longer matches
    count: int


def image_neighbours(*, image: Image, filters: ImageFilter) -> Neighbours:
    """The images before and after ``image`` in the filtered list (keyset, so it holds on any list size).

    An image that left the list (it was submitted while the list shows new ones) still has
    neighbours: those around the place its sort key would have.
    """
    images = image_browse(project=image.project, filters=filters)
    key, descending = ORDERS[filters.order]
    if key == "sort_uncertainty":
        mine = -1.0 if image.uncertainty is None else image.uncertainty
    else:
        mine = getattr(image, key)
    after = Q(**{f"{key}__gt": mine}) | Q(**{key: mine, "id__gt": image.pk})
    before = Q(**{f"{key}__lt": mine}) | Q(**{key: mine, "id__lt": image.pk})
    if descending:
        after, before = before, after
    ordered = [f"-{key}", "-id"] if descending else [key, "id"]
    reverse = [key, "id"] if descending else [f"-{key}", "-id"]
    following = images.filter(after).order_by(*ordered).values_list("id", flat=True).first()
    preceding = images.filter(before).order_by(*reverse).values_list("id", flat=True).first()
    count = images.count()
    inside = images.filter(pk=image.pk).exists()
    position = images.filter(before).count() + 1 if inside else None
    return Neighbours(previous=preceding, next=following, position=position, count=count)

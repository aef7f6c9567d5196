"""Showing predictions on untouched images as the trust gate says, and keeping them in step with it.

A prediction's shapes reach an image's annotation set only as pre-labels, only while no person has
touched the image (``annotations.services.image_pre_label`` refuses otherwise), and only those the
gate's policy shows. In suggestion mode the set gets none: the shapes stay in the Prediction and the
annotate view offers them as ghost outlines. When the policy changes (the gate flips after a review,
an admin pins it, a promotion), the untouched pending images are shown again from their stored
predictions: no inference, and nothing a person drew is touched.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from annotator.annotations.services import image_pre_label
from annotator.errors import ApplicationError
from annotator.jobs.enqueue import enqueue
from annotator.projects.models import Image, ImageStatus, Project

from .models import GateMode, ModelVersion, Prediction, TrustGate, TrustGatePin
from .trust import PrelabelPolicy, prelabel_policy, trust_gate_refresh, version_in_use
from .trust_refresh import trust_gate_refresh_started

log = logging.getLogger(__name__)

REAPPLY_PRELABELS = "annotator.learning.tasks.reapply_prelabels"
UNTOUCHED = (ImageStatus.NEW, ImageStatus.PRE_LABELED)


def prediction_show(*, image: Image, prediction: Prediction, policy: PrelabelPolicy) -> bool:
    """Write the pre-labels ``policy`` shows from ``prediction`` (none for suggestions) if the image is untouched."""
    rejected = set(prediction.rejected)
    offered = [inst for i, inst in enumerate(prediction.instances) if i not in rejected]
    if not image_pre_label(image=image, instances=policy.shown(offered)):
        return False
    Prediction.objects.filter(pk=prediction.pk).update(shown_as=policy.mode, shown_threshold=policy.threshold)
    return True


def project_prelabels_reapply(*, project: Project) -> int:
    """Show the stored predictions of the version in use again on every untouched pending image.

    Only images whose prediction was shown under another policy are rewritten; returns how many were.
    """
    version = version_in_use(project)
    if version is None:
        return 0
    policy = prelabel_policy(project=project, version=version)
    # An image someone holds open is left as they see it: rewriting it would turn their first save
    # into a version conflict. It follows the policy the next time it is shown.
    pending = (
        Prediction.objects.filter(model_version=version, image__project=project, image__status__in=UNTOUCHED)
        .exclude(image__lease_user__isnull=False, image__lease_expires_at__gt=timezone.now())
        .select_related("image")
    )
    # exclude() with a None threshold would compare with NULL, which matches nothing: say isnull.
    same = (
        {"shown_threshold__isnull": True}
        if policy.threshold is None
        else {"shown_threshold": policy.threshold}
    )
    stale = pending.exclude(shown_as=policy.mode, **same)
    rewritten = sum(prediction_show(image=p.image, prediction=p, policy=policy) for p in stale.iterator())
    if rewritten:
        log.info("project %s: %s untouched image(s) now show %s", project.pk, rewritten, policy)
    return rewritten


def trust_gate_update(*, project: Project) -> TrustGate | None:
    """Recompute the gate of the version in use; if what it shows changed, re-show the untouched images."""
    version = version_in_use(project)
    if version is None:
        return None
    before = _current_policy(project, version)
    gate = trust_gate_refresh(project=project, version=version)
    if prelabel_policy(project=project, version=version) != before:
        project_prelabels_reapply(project=project)
    return gate


def trust_gate_queued_update(*, project: Project) -> TrustGate | None:
    """The queued refresh (``trust_refresh``): reviews from now on queue the next one, then ``trust_gate_update``."""
    trust_gate_refresh_started(project=project)
    return trust_gate_update(project=project)


def suggestion_reject(*, prediction: Prediction, index: int) -> Prediction:
    """Remember that an annotator rejected the suggestion ``prediction.instances[index]``.

    Only the Prediction row changes (its ``rejected`` list, kept sorted, each index once): the
    image's annotation set, its version and status stay as they are. Rejecting twice is harmless.
    """
    if isinstance(index, bool) or not isinstance(index, int):
        raise ApplicationError(f"index must be a whole number, not {index!r}", field="index")
    with transaction.atomic():
        locked = Prediction.objects.select_for_update().get(pk=prediction.pk)
        count = len(locked.instances)
        if not 0 <= index < count:
            raise ApplicationError(
                f"No suggestion #{index} on image #{locked.image_id}: the model proposed {count} "
                f"shape(s), numbered 0 to {count - 1}"
                if count
                else f"No suggestion #{index}: the model proposed no shape on image #{locked.image_id}",
                field="index",
            )
        if index not in locked.rejected:
            locked.rejected = sorted([*locked.rejected, index])
            locked.save(update_fields=["rejected"])
    return locked


def trust_gate_pin(
    *, project: Project, user, mode: str | None = None, threshold: float | None = None, fields: set[str]
) -> TrustGatePin:
    """Pin (or unpin, with None) the mode and/or the threshold named in ``fields``; re-shows pending images.

    ``mode`` is "prelabel", "suggest" or None (the gate decides); ``threshold`` a score in [0, 1] or None.
    """
    if "mode" in fields and mode not in (None, "", *GateMode.values):
        raise ApplicationError(
            f"Unknown mode {mode!r}: use 'prelabel', 'suggest' or null (the gate decides)",
            field="pinned_mode",
        )
    if "threshold" in fields and threshold is not None:
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not 0.0 <= threshold <= 1.0
        ):
            raise ApplicationError(
                "The pinned threshold must be a score between 0 and 1, or null (the gate decides)",
                field="pinned_threshold",
            )
    with transaction.atomic():
        pin, _ = TrustGatePin.objects.select_for_update().get_or_create(project=project)
        if "mode" in fields:
            pin.mode = mode or ""
        if "threshold" in fields:
            pin.threshold = None if threshold is None else float(threshold)
        pin.changed_by = user if user and user.is_authenticated else None
        pin.save()
        enqueue(REAPPLY_PRELABELS, project.pk)
    return pin


def _current_policy(project: Project, version: ModelVersion) -> PrelabelPolicy | None:
    if not TrustGate.objects.filter(project=project, model_version=version).exists():
        return None
    return prelabel_policy(project=project, version=version)

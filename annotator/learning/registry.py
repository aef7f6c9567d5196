"""The model registry: promotion (automatic through the gate, or by hand), rollback, and re-scoring.

Exactly one version is a project's active model (``Project.active_model``; empty means the
shipped base). Promoting one archives the project version it replaces. After every change
the images still waiting on an annotator (never submitted, or rejected back to them) are
re-predicted with the new model, which refreshes their uncertainty and features (and so
their queue rank) and, for untouched images, their pre-labels. That work is a ``BatchJob``
of kind ``rescore`` with progress. The same job then recomputes the features of the images
already labelled (submitted or accepted, the queue's most recent ``COVERED_LIMIT``), and only
their features, so that the queue's diversity compares pool and labelled images through one
encoder (``services.image_refresh_features``).

The shipped base is registered by the content of its file (``base_shipped_register``): a new
file becomes a new promoted base version and the projects that follow the base (no active
model of their own) get the same re-scoring.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotator.annotations.ranking import COVERED_LIMIT
from annotator.errors import ApplicationError, ConflictError
from annotator.jobs.enqueue import enqueue
from annotator.jobs.models import BatchJob, JobStatus
from annotator.projects.models import ImageStatus, Project

from .adapters import universal as universal_adapter
from .models import ModelVersion
from .runs import next_version_name
from .trust import version_in_use
from .trust_refresh import trust_gate_schedule_update

log = logging.getLogger(__name__)

# Pending work: re-predicted after a promotion. That includes rejected images, which are back
# with the annotators (a rejected image someone reopens is in progress and ranked by its score).
# Re-predicting never overwrites a person's shapes (``image_pre_label`` refuses), and a new
# Prediction row leaves the acceptance metric crediting the version that pre-labelled.
# Submitted and accepted images wait on nobody's labelling: they keep their score.
RESCORE_STATUSES = (ImageStatus.NEW, ImageStatus.PRE_LABELED, ImageStatus.IN_PROGRESS, ImageStatus.REJECTED)
LABELLED_STATUSES = (ImageStatus.SUBMITTED, ImageStatus.ACCEPTED)  # features refreshed only
PRE_LABEL_IMAGE = "annotator.learning.tasks.pre_label_image"
REFRESH_FEATURES = "annotator.learning.tasks.refresh_features"
PROMOTABLE = (ModelVersion.Status.READY, ModelVersion.Status.ARCHIVED, ModelVersion.Status.PROMOTED)


def version_promote(
    *, version: ModelVersion, user=None, reason: str = "manual", confirm_worse: bool = False
) -> BatchJob | None:
    """Make ``version`` its project's active model and queue the re-scoring of pending images.

    A version whose mask AP on the val split is below the active model's is promoted only with
    ``confirm_worse``; without it, a ``ConflictError`` (``worse_than_active``) carries both figures.
    """
    if version.project_id is None:
        raise ApplicationError(
            "The shipped base is not a project version; roll back to it instead", code="not_a_project_version"
        )
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=version.project_id)
        locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status not in PROMOTABLE:
            raise ConflictError(
                f"{locked.name} is {locked.status} and cannot be promoted", code="not_promotable"
            )
        if project.active_model_id == locked.pk:
            return None
        if not confirm_worse:
            _refuse_if_worse(locked, project.active_model or _base_in_use())
        _activate(project, locked, reason=reason)
        return _schedule_rescore(project)


def version_rollback(*, project: Project, user=None) -> BatchJob | None:
    """Go back to the model the active one was trained from (its parent; the base at the root)."""
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project.pk)
        current = project.active_model
        if current is None:
            raise ConflictError(
                "The project already uses the shipped base model; nothing to roll back",
                code="nothing_to_roll_back",
            )
        target = current.parent if current.parent and current.parent.project_id == project.pk else None
        _activate(project, target, reason=f"rollback from {current.name}")
        return _schedule_rescore(project)


def base_shipped_register(*, path: Path) -> ModelVersion:
    """Register the shipped checkpoint file as a base version and promote it; the current base is archived.

    The file is copied under ``MODEL_ROOT/shipped`` by content, so the version's checkpoint never
    changes under it when the shipped file is replaced again. Its pre-label threshold comes from
    the checkpoint. When it replaces a base, the projects without an active model of their own get
    their pending images re-scored (untouched ones re-pre-labelled). A file whose content is already
    registered changes nothing; two processes registering the same file at once make one version.
    """
    stored, sha = universal_adapter.checkpoint_store(path, Path(settings.ANNOTATOR["MODEL_ROOT"]) / "shipped")
    bases = ModelVersion.objects.filter(project__isnull=True)
    known = bases.filter(checkpoint_sha256=sha).first()
    if known is not None:
        return known
    threshold = universal_adapter.prelabel_threshold(stored)
    try:
        with transaction.atomic():
            previous = bases.select_for_update().filter(status=ModelVersion.Status.PROMOTED).first()
            version = ModelVersion.objects.create(
                project=None,
                parent=previous,
                name=next_version_name(None),
                checkpoint=str(stored),
                checkpoint_sha256=sha,
                prelabel_threshold=threshold,
                status=ModelVersion.Status.PROMOTED,
                promoted_at=timezone.now(),
                data_summary={
                    "shipped": str(path),
                    "promotion": f"shipped checkpoint {path.name} ({sha[:12]})",
                },
            )
            if previous is not None:
                bases.filter(status=ModelVersion.Status.PROMOTED).exclude(pk=version.pk).update(
                    status=ModelVersion.Status.ARCHIVED
                )
                projects_following_base_rescore()  # their pre-labels now come from the new base
    except IntegrityError:  # another process registered the same file first
        return bases.get(checkpoint_sha256=sha)
    log.info("shipped base %s registered as %s (pre-label threshold %.3f)", sha[:12], version.name, threshold)
    return version


def val_figures(*, version: ModelVersion, active: ModelVersion) -> tuple[dict, dict] | None:
    """Mask AP on the val split of ``version`` and ``active``, or ``None`` when either is unknown.

    Figures measured on the same images come first: the run that trained one scored the other
    (``metrics.compared_with``). Otherwise each version's own figure from its run, with its count of
    val images (the split grows as images are accepted).
    """

    def figure(v: ModelVersion, mask_ap: object, images: object) -> dict | None:
        if not isinstance(mask_ap, int | float):
            return None
        count = images if isinstance(images, int) else None
        return {"id": v.pk, "name": v.name, "mask_ap": float(mask_ap), "val_images": count}

    def own(v: ModelVersion) -> tuple[object, object]:
        return v.metrics.get("mask_ap"), (v.metrics.get("val") or {}).get("images")

    for one, other in ((version, active), (active, version)):
        compared = one.metrics.get("compared_with") or {}
        if compared.get("version") == other.pk and one.project_id is not None:
            images = own(one)[1]
            pair = figure(one, own(one)[0], images), figure(other, compared.get("mask_ap"), images)
            if pair[0] and pair[1]:
                return pair if one is version else (pair[1], pair[0])
    if active.project_id is None:  # the base's own metrics are not on this project's val split
        return None
    mine, theirs = figure(version, *own(version)), figure(active, *own(active))
    return (mine, theirs) if mine and theirs else None


def _refuse_if_worse(version: ModelVersion, active: ModelVersion | None) -> None:
    figures = None if active is None else val_figures(version=version, active=active)
    if figures is None or figures[0]["mask_ap"] >= figures[1]["mask_ap"]:
        return
    mine, theirs = figures

    def said(f: dict) -> str:
        images = f" on {f['val_images']} val images" if f["val_images"] is not None else ""
        return f"{f['name']} has mask AP {f['mask_ap']:.3f}{images}"

    raise ConflictError(
        f"{said(mine)}; {said(theirs)} and is in use. Promoting {mine['name']} would make pre-labels worse "
        "on the val split: confirm to promote it anyway (confirm_worse)",
        code="worse_than_active",
        extra={"candidate": mine, "active": theirs},
    )


def _base_in_use() -> ModelVersion | None:
    return ModelVersion.objects.filter(project__isnull=True, status=ModelVersion.Status.PROMOTED).first()


def _activate(project: Project, version: ModelVersion | None, *, reason: str) -> None:
    previous = project.active_model
    if previous is not None and previous.project_id == project.pk:
        ModelVersion.objects.filter(pk=previous.pk).update(status=ModelVersion.Status.ARCHIVED)
    if version is not None:
        version.status = ModelVersion.Status.PROMOTED
        version.promoted_at = timezone.now()
        version.data_summary = {**version.data_summary, "promotion": reason}
        version.save(update_fields=["status", "promoted_at", "data_summary"])
    project.active_model = version
    project.save(update_fields=["active_model"])
    _relearn_gate(project)
    log.info(
        "project %s now uses %s (%s)", project.pk, version.name if version else "the shipped base", reason
    )


def projects_following_base_rescore() -> list[BatchJob]:
    """Re-score the pending images of every project without a model of its own (it follows the base).

    Called inside the transaction that changed the base; the tasks are queued on its commit.
    """
    jobs = []
    for project in Project.objects.filter(active_model__isnull=True):
        _relearn_gate(project)
        jobs.append(_schedule_rescore(project))
    return jobs


def _relearn_gate(project: Project) -> None:
    """Queue the trust gate of the model now in use (one refresh waits per project, ``trust_refresh``).

    Not learned here: a promotion, rollback or new base holds the project's lock, and for a new base every
    following project's. Until the refresh runs, the re-scored images get the version's calibrated default
    (the provisional gate); the refresh re-shows the untouched ones if its gate differs.
    """
    if version_in_use(project) is not None:
        trust_gate_schedule_update(project=project)


def _schedule_rescore(project: Project) -> BatchJob:
    ids = list(project.images.filter(status__in=RESCORE_STATUSES).values_list("id", flat=True))
    labelled = list(
        project.images.filter(status__in=LABELLED_STATUSES)
        .order_by("-status_changed_at")
        .values_list("id", flat=True)[:COVERED_LIMIT]
    )
    job = BatchJob.objects.create(project=project, kind=BatchJob.Kind.RESCORE, total=len(ids) + len(labelled))
    if not ids and not labelled:
        job.status, job.progress, job.finished_at = JobStatus.SUCCEEDED, 100, timezone.now()
        job.message = "No pending images to re-score"
        job.save(update_fields=["status", "progress", "finished_at", "message"])
        return job
    for pk in ids:
        enqueue(PRE_LABEL_IMAGE, pk, job.pk, job=job)
    for pk in labelled:
        enqueue(REFRESH_FEATURES, pk, job.pk, job=job)
    return job

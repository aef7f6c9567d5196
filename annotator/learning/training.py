"""Training runs: who may start one, the per-project lock, the run itself and its promotion gate.

A run fine-tunes the project's active model (or the shipped base) on the accepted images of
the train split, evaluates the result *and* the current model on the accepted images of the
fixed val split, and promotes the result only if its mask AP is higher. Whatever happens
(failure, cancellation, a worse model) the project's active model changes only through
``registry.version_promote``.
"""

from __future__ import annotations

import logging
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction

from annotator.errors import ApplicationError, ConflictError
from annotator.jobs.enqueue import enqueue
from annotator.jobs.services import job_fail, job_report, job_request_cancel
from annotator.projects.models import Image, Project

from . import registry
from .adapters import training as training_adapter
from .models import ACTIVE_RUN_STATUSES, TrainingRun
from .runs import (
    run_abort,
    run_cancel_poller,
    run_finish,
    run_progress_reporter,
    run_stop_if_cancelled,
    run_version_ensure,
    run_version_ready,
    run_versions_fail_orphaned,
    run_workdir_fresh,
)
from .selectors import accepted_since_last_run, training_data_for, training_data_shortfall
from .services import active_model_for, base_model_version

log = logging.getLogger(__name__)

TRAIN_MODEL = "annotator.learning.tasks.train_model"
SCRATCH = ("data", "model.pt")  # what a failed or cancelled run removes from its folder


def training_run_request(*, project: Project, user=None, trigger: str = "manual") -> TrainingRun:
    """Create a pending run and queue it; ``ConflictError`` if the project already has one.

    The project row is locked (``select_for_update``) and a partial unique constraint allows
    one pending/running run per project, so two concurrent triggers start one run.
    """
    training_data_require(project=project)
    try:
        with transaction.atomic():
            Project.objects.select_for_update().get(pk=project.pk)
            current = TrainingRun.objects.filter(project=project, status__in=ACTIVE_RUN_STATUSES).first()
            if current is not None:
                raise _already_running(current)
            run_versions_fail_orphaned(project=project)
            run = TrainingRun.objects.create(
                project=project, requested_by=user, trigger=trigger, base_version=active_model_for(project)
            )
            enqueue(TRAIN_MODEL, run.pk, job=run)
    except IntegrityError as exc:  # a concurrent trigger won the race on the constraint
        current = TrainingRun.objects.filter(project=project, status__in=ACTIVE_RUN_STATUSES).first()
        raise _already_running(current) from exc
    return run


def training_data_require(*, project: Project) -> None:
    """``ApplicationError`` naming the numbers unless the project has enough accepted train and val images."""
    data = training_data_for(project=project)
    if data.reason:
        raise ApplicationError(
            data.reason, code="not_enough_training_data", extra={"training_data": data.as_dict()}
        )


def _already_running(run: TrainingRun | None) -> ConflictError:
    return ConflictError(
        f"Training run #{run.pk if run else '?'} of this project is still {run.status if run else 'active'}; "
        "one run per project at a time",
        code="training_in_progress",
        extra={"training_run": run.pk if run else None},
    )


def training_run_cancel(*, run: TrainingRun) -> TrainingRun:
    if run.is_finished:
        raise ConflictError(f"Training run #{run.pk} already {run.status}", code="already_finished")
    job_request_cancel(job=run)
    run.refresh_from_db()
    return run


def retraining_check() -> list[TrainingRun]:
    """The periodic trigger: start a run in every project with enough newly accepted images.

    It also looks at the shipped base checkpoint, so a replaced file is registered (and the pending
    images re-scored) within one interval of the schedule even while nobody uses the app.
    """
    base_model_version()
    started = []
    for project in Project.objects.all():
        if accepted_since_last_run(project=project) < max(project.retrain_threshold, 1):
            continue
        try:
            started.append(training_run_request(project=project, trigger="schedule"))
        except ApplicationError as exc:  # a run is already going, or too few images: say so and go on
            log.warning("retraining check skipped project %s (%s): %s", project.pk, project.name, exc.message)
    return started


# --------------------------------------------------------------------------- the run


def training_run_execute(*, run: TrainingRun) -> TrainingRun:
    """Fine-tune, evaluate candidate and current model on the val split, gate, promote.

    Called by the task after ``run_start`` moved the run to RUNNING.
    """
    project = run.project
    base = run.base_version or active_model_for(project)
    if base is None:
        job_fail(job=run, message="No model to start from: the shipped base checkpoint is missing")
        return run
    workdir = run_workdir_fresh(run=run)
    try:
        job_report(job=run, progress=1, message="Writing the training data")
        train = training_adapter.write_split(
            project=project, split=Image.Split.TRAIN, out_dir=workdir / "data"
        )
        val = training_adapter.write_split(project=project, split=Image.Split.VAL, out_dir=workdir / "data")
        # Reviews may have reopened images since the run was requested: the same minimums hold here.
        shortfall = training_data_shortfall(train=len(train.images), val=len(val.images))
        if shortfall:
            raise ApplicationError(shortfall)
        version = run_version_ensure(
            run=run,
            parent=base,
            checkpoint=str(workdir / "model.pt"),
            training_images=train.images,
            data_summary={"train": train.summary(), "val": val.summary(), "base": base.name},
        )
        job_report(
            job=run, progress=5, message=f"Fine-tuning {base.name} on {len(train.images)} accepted images"
        )
        result = training_adapter.fine_tune(
            base_checkpoint=base.checkpoint,
            train=train,
            val=val,
            out_path=workdir / "model.pt",
            budget_seconds=float(settings.ANNOTATOR.get("TRAINING_BUDGET_SECONDS", 600)),
            epochs=settings.ANNOTATOR.get("TRAINING_EPOCHS") or None,
            progress=run_progress_reporter(run=run),
            should_stop=run_cancel_poller(run=run),
        )
        run_stop_if_cancelled(run=run)
        job_report(job=run, progress=92, message="Evaluating the new and the current model on the val split")
        checkpoint = str(result.get("checkpoint") or workdir / "model.pt")
        # The candidate was scored on the val split by the training loop (same COCO evaluator);
        # the current model is scored here on exactly the same images.
        candidate = (
            training_adapter.metrics_of(result)
            if "mask_ap" in result
            else training_adapter.evaluate(checkpoint=checkpoint, split=val)
        )
        # The gate compares with the model the project uses *now*: usually the starting point,
        # but not for a rebase (which starts from a newer universal base).
        project.refresh_from_db()
        incumbent = active_model_for(project)
        current = training_adapter.evaluate(checkpoint=incumbent.checkpoint, split=val)
    except Exception as exc:  # cancelled or failed: say why, keep the active model
        run_abort(run=run, error=exc, workdir=workdir, scratch=SCRATCH, kept="the active model")
        return run

    val_summary = {"images": len(val.images), "image_ids": val.images}
    candidate_ap, current_ap = float(candidate.get("mask_ap", 0.0)), float(current.get("mask_ap", 0.0))
    better = candidate_ap > current_ap
    decision = "promoted" if better else "not promoted"
    reason = (
        f"mask AP {candidate_ap:.4f} {'>' if better else '<='} {current_ap:.4f} of {incumbent.name} "
        f"on the same {len(val.images)} val images"
    )
    run_version_ready(
        version=version,
        checkpoint=checkpoint,
        metrics={
            **candidate,
            "val": val_summary,
            "compared_with": {
                "version": incumbent.pk,
                "name": incumbent.name,
                "mask_ap": current_ap,
                "metrics": current,
            },
        },
    )
    run.report = {
        "decision": decision,
        "reason": reason,
        "candidate": candidate,
        "current": current,
        "train": train.summary(),
        "val": val.summary(),
        "fine_tune": {k: v for k, v in result.items() if isinstance(v, int | float | str)},
    }
    run.save(update_fields=["report"])
    promote = partial(  # the gate just compared both on the same val images: no confirmation to ask
        registry.version_promote,
        version=version,
        user=run.requested_by,
        reason=f"training run #{run.pk}: {reason}",
        confirm_worse=True,
    )
    run_finish(run=run, version=version, reason=reason, promote=promote if better else None)
    return run

"""Training runs: who may start one, the per-project lock, the run itself and its promotion gate.

A run fine-tunes the project's active model (or the shipped base) on the accepted images of
the train split, evaluates the result *and* the current model on the accepted images of the
fixed val split, and promotes the result only if its mask AP is higher. Whatever happens
(failure, cancellation, a worse model) the project's active model changes only through
``registry.version_promote``.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotator.errors import ApplicationError, ConflictError
from annotator.jobs.models import FINISHED_STATUSES, JobStatus
from annotator.jobs.services import job_cancel, job_fail, job_report, job_request_cancel, job_succeed
from annotator.projects.models import Image, ImageStatus, Project

from . import registry
from .adapters import training as training_adapter
from .models import ACTIVE_RUN_STATUSES, ModelVersion, TrainingRun
from .selectors import accepted_since_last_run
from .services import active_model_for

log = logging.getLogger(__name__)

MIN_TRAIN_IMAGES = 1
MIN_VAL_IMAGES = 1
CANCEL_POLL_SECONDS = 1.0


class RunCancelled(Exception):
    pass


def training_run_request(*, project: Project, user=None, trigger: str = "manual") -> TrainingRun:
    """Create a pending run and queue it; ``ConflictError`` if the project already has one.

    The project row is locked (``select_for_update``) and a partial unique constraint allows
    one pending/running run per project, so two concurrent triggers start one run.
    """
    from . import tasks

    train_count = project.images.filter(status=ImageStatus.ACCEPTED, split=Image.Split.TRAIN).count()
    if train_count < MIN_TRAIN_IMAGES:
        raise ApplicationError(
            "Nothing to train on: no accepted images in the train split yet", code="no_training_data",
        )
    try:
        with transaction.atomic():
            Project.objects.select_for_update().get(pk=project.pk)
            current = TrainingRun.objects.filter(project=project, status__in=ACTIVE_RUN_STATUSES).first()
            if current is not None:
                raise _already_running(current)
            _fail_orphaned_versions(project)
            run = TrainingRun.objects.create(project=project, requested_by=user, trigger=trigger,
                                             base_version=active_model_for(project))
            transaction.on_commit(lambda: tasks.train_model.delay(run.pk))
    except IntegrityError as exc:  # a concurrent trigger won the race on the constraint
        current = TrainingRun.objects.filter(project=project, status__in=ACTIVE_RUN_STATUSES).first()
        raise _already_running(current) from exc
    return run


def _fail_orphaned_versions(project: Project) -> None:
    """Versions left 'training' in a project with no active run (older data; see ``training_versions_fail_stopped``)."""
    ModelVersion.objects.filter(project=project, status=ModelVersion.Status.TRAINING).update(
        status=ModelVersion.Status.FAILED, metrics={"error": "its training run stopped without finishing"})


def training_versions_fail_stopped() -> int:
    """Fail the versions still 'training' whose run has finished: its worker died and the reaper failed the run.

    Called by the reaper after it fails stale runs, so a dead run leaves no version 'training'.
    Only versions linked to a finished run are touched, never one a live run is working on.
    """
    stopped = TrainingRun.objects.filter(status__in=FINISHED_STATUSES).values("result_version")
    return ModelVersion.objects.filter(status=ModelVersion.Status.TRAINING, pk__in=stopped).update(
        status=ModelVersion.Status.FAILED, metrics={"error": "its training run stopped without finishing"})


def _already_running(run: TrainingRun | None) -> ConflictError:
    return ConflictError(
        f"Training run #{run.pk if run else '?'} of this project is still {run.status if run else 'active'}; "
        "one run per project at a time",
        code="training_in_progress", extra={"training_run": run.pk if run else None},
    )


def training_run_cancel(*, run: TrainingRun) -> TrainingRun:
    if run.is_finished:
        raise ConflictError(f"Training run #{run.pk} already {run.status}", code="already_finished")
    job_request_cancel(job=run)
    run.refresh_from_db()
    return run


def retraining_check() -> list[TrainingRun]:
    """The periodic trigger: start a run in every project with enough newly accepted images."""
    started = []
    for project in Project.objects.all():
        if accepted_since_last_run(project=project) < max(project.retrain_threshold, 1):
            continue
        try:
            started.append(training_run_request(project=project, trigger="schedule"))
        except ApplicationError as exc:  # a run is already going (or nothing to train on): fine
            log.info("retraining check skipped project %s: %s", project.pk, exc.message)
    return started


# --------------------------------------------------------------------------- the run


def training_run_execute(*, run: TrainingRun) -> TrainingRun:
    """Fine-tune, evaluate candidate and current model on the val split, gate, promote.

    Called by the task after ``job_start`` moved the run to RUNNING.
    """
    project = run.project
    base = run.base_version or active_model_for(project)
    if base is None:
        job_fail(job=run, message="No model to start from: the shipped base checkpoint is missing")
        return run
    workdir = Path(settings.ANNOTATOR["MODEL_ROOT"]) / f"project_{project.pk}" / f"run_{run.pk}"
    # A run taken over from a dead worker starts clean: the killed attempt may have left half-written files.
    shutil.rmtree(workdir, ignore_errors=True)
    version: ModelVersion | None = None
    try:
        job_report(job=run, progress=1, message="Writing the training data")
        train = training_adapter.write_split(project=project, split=Image.Split.TRAIN, out_dir=workdir / "data")
        val = training_adapter.write_split(project=project, split=Image.Split.VAL, out_dir=workdir / "data")
        if len(train.images) < MIN_TRAIN_IMAGES:
            raise ApplicationError("No accepted images in the train split")
        if len(val.images) < MIN_VAL_IMAGES:
            raise ApplicationError(
                "No accepted images in the val split: the promotion gate has nothing to compare on; "
                "review some val images first"
            )
        version = _candidate_version(run=run, base=base, checkpoint=str(workdir / "model.pt"), train=train, val=val)
        job_report(job=run, progress=5, message=f"Fine-tuning {base.name} on {len(train.images)} accepted images")
        result = training_adapter.fine_tune(
            base_checkpoint=base.checkpoint, train=train, val=val, out_path=workdir / "model.pt",
            budget_seconds=float(settings.ANNOTATOR.get("TRAINING_BUDGET_SECONDS", 600)),
            epochs=settings.ANNOTATOR.get("TRAINING_EPOCHS") or None,
            progress=_progress_reporter(run), should_stop=_cancel_poller(run),
        )
        if _cancel_requested(run):
            raise RunCancelled()
        job_report(job=run, progress=92, message="Evaluating the new and the current model on the val split")
        checkpoint = str(result.get("checkpoint") or workdir / "model.pt")
        # The candidate was scored on the val split by the training loop (same COCO evaluator);
        # the current model is scored here on exactly the same images.
        candidate = training_adapter.metrics_of(result) if "mask_ap" in result else training_adapter.evaluate(
            checkpoint=checkpoint, split=val)
        # The gate compares with the model the project uses *now*: usually the starting point,
        # but not for a rebase (which starts from a newer universal base).
        project.refresh_from_db()
        incumbent = active_model_for(project)
        current = training_adapter.evaluate(checkpoint=incumbent.checkpoint, split=val)
    except RunCancelled:
        _discard(version, workdir, reason="run cancelled")
        job_cancel(job=run, message="Cancelled; the active model is unchanged")
        return run
    except Exception as exc:  # any failure: say why, keep the active model
        log.exception("training run %s failed", run.pk)
        _discard(version, workdir, reason=str(exc))
        message = exc.message if isinstance(exc, ApplicationError) else f"{type(exc).__name__}: {exc}"
        job_fail(job=run, message=f"{message} — the active model is unchanged")
        return run

    val_summary = {"images": len(val.images), "image_ids": val.images}
    candidate_ap, current_ap = float(candidate.get("mask_ap", 0.0)), float(current.get("mask_ap", 0.0))
    better = candidate_ap > current_ap
    decision = "promoted" if better else "not promoted"
    reason = (f"mask AP {candidate_ap:.4f} {'>' if better else '<='} {current_ap:.4f} of {incumbent.name} "
              f"on the same {len(val.images)} val images")
    version.checkpoint = checkpoint
    version.metrics = {**candidate, "val": val_summary, "compared_with": {
        "version": incumbent.pk, "name": incumbent.name, "mask_ap": current_ap, "metrics": current}}
    version.status = ModelVersion.Status.READY
    version.save(update_fields=["checkpoint", "metrics", "status"])
    run.report = {"decision": decision, "reason": reason, "candidate": candidate, "current": current,
                  "train": train.summary(), "val": val.summary(),
                  "fine_tune": {k: v for k, v in result.items() if isinstance(v, int | float | str)}}
    run.save(update_fields=["report"])
    if better:
        try:
            registry.version_promote(version=version, user=run.requested_by,
                                     reason=f"training run #{run.pk}: {reason}")
        except Exception as exc:  # the version stays 'ready' with its numbers; promote it by hand
            log.exception("promotion after training run %s failed", run.pk)
            job_fail(job=run, message=f"{version.name} was better ({reason}) but promotion failed: {exc}")
            return run
    job_succeed(job=run, message=f"{version.name} {decision}: {reason}")
    return run


def _candidate_version(*, run: TrainingRun, base: ModelVersion, checkpoint: str,
                       train: training_adapter.CocoSplit, val: training_adapter.CocoSplit) -> ModelVersion:
    """The 'training' version this run produces, linked to the run in the same transaction.

    A run redelivered after its worker died reuses the version its killed attempt created:
    one run, one version.
    """
    fields = {"parent": base, "checkpoint": checkpoint, "status": ModelVersion.Status.TRAINING,
              "training_images": train.images,
              "data_summary": {"train": train.summary(), "val": val.summary(), "base": base.name}}
    version = run.result_version
    if version is not None and version.status == ModelVersion.Status.TRAINING:
        for name, value in fields.items():
            setattr(version, name, value)
        version.save(update_fields=list(fields))
        return version
    with transaction.atomic():
        version = ModelVersion.objects.create(project=run.project, name=_next_version_name(run.project), **fields)
        TrainingRun.objects.filter(pk=run.pk).update(result_version=version)
    run.result_version = version
    return version


def _next_version_name(project: Project) -> str:
    count = ModelVersion.objects.filter(project=project).count()
    return f"{project.slug}-v{count + 1}"


def _discard(version: ModelVersion | None, workdir: Path, *, reason: str) -> None:
    if version is not None:
        ModelVersion.objects.filter(pk=version.pk).update(
            status=ModelVersion.Status.FAILED, metrics={"error": reason[:2000]})
    shutil.rmtree(workdir / "data", ignore_errors=True)
    Path(workdir / "model.pt").unlink(missing_ok=True)


def _cancel_requested(run: TrainingRun) -> bool:
    return bool(TrainingRun.objects.filter(pk=run.pk).values_list("cancel_requested", flat=True).first())


def _cancel_poller(run: TrainingRun):
    """``should_stop`` for the training loop; reads the DB at most once a second."""
    state = {"at": 0.0, "stop": False}

    def should_stop() -> bool:
        now = time.monotonic()
        if not state["stop"] and now - state["at"] >= CANCEL_POLL_SECONDS:
            state["at"], state["stop"] = now, _cancel_requested(run)
        return state["stop"]

    return should_stop


def _progress_reporter(run: TrainingRun):
    """``progress`` callback: epoch / loss / ETA into the run row (fine-tuning is 5-90 % of the bar)."""

    def report(info: dict[str, Any]) -> None:
        fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
        for key in ("epoch", "epochs"):
            if info.get(key) is not None:
                fields[key] = int(info[key])
        # An epoch cut short before its first step reports a NaN loss; keep the last real value
        # (a NaN would also make every JSON answer about this run fail).
        for key in ("loss", "eta_seconds"):
            if info.get(key) is not None and math.isfinite(float(info[key])):
                fields[key] = float(info[key])
        if info.get("fraction") is not None:
            fields["progress"] = max(5, min(90, 5 + round(85 * float(info["fraction"]))))
        TrainingRun.objects.filter(pk=run.pk, status=JobStatus.RUNNING).update(**fields)

    return report

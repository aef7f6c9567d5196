"""The life of one training run, project or base (``project=None``): the same steps for both.

start (status guard, a fresh work folder) → one 'training' ModelVersion per run, reused when
a run is redelivered after its worker died → progress and cancel polling from the training
loop → the version 'ready', the run finished with the decision and its reason; or, on a
failure or a cancellation, the version failed, the run finished saying why, and the model in
use left as it was. What is trained and how the candidate is judged stay with the callers
(``learning.training`` for project runs, ``universal.training`` for base runs).
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotator.errors import ApplicationError
from annotator.jobs.models import FINISHED_STATUSES, JobStatus
from annotator.jobs.services import job_cancel, job_fail, job_start, job_succeed
from annotator.projects.models import Project

from .adapters import universal as universal_adapter
from .models import ModelVersion, TrainingRun

log = logging.getLogger(__name__)

CANCEL_POLL_SECONDS = 1.0
STOPPED_WITHOUT_FINISHING = "its training run stopped without finishing"


class RunCancelled(Exception):
    """Raised inside a run when its user asked to cancel; ``run_abort`` turns it into a cancelled run."""


def run_start(*, run_id: int) -> TrainingRun | None:
    """Move a run to RUNNING and return it with its versions; ``None`` when it is finished or a live worker has it.

    The status guard (``job_start``) makes a duplicate or redelivered message harmless: only a
    pending run, or a running one whose worker stopped reporting, is started (again).
    """
    run = job_start(model=TrainingRun, job_id=run_id)
    if run is None:
        return None
    return TrainingRun.objects.select_related("project", "base_version", "result_version").get(pk=run.pk)


def run_workdir(*, run: TrainingRun) -> Path:
    """The run's own folder under ``MODEL_ROOT`` (training data, its checkpoint)."""
    owner = "universal" if run.project_id is None else f"project_{run.project_id}"
    return Path(settings.ANNOTATOR["MODEL_ROOT"]) / owner / f"run_{run.pk}"


def run_workdir_fresh(*, run: TrainingRun) -> Path:
    """The run's folder, emptied: a run taken over from a dead worker starts clean."""
    workdir = run_workdir(run=run)
    shutil.rmtree(workdir, ignore_errors=True)  # the killed attempt may have left half-written files
    return workdir


def run_version_ensure(
    *,
    run: TrainingRun,
    parent: ModelVersion,
    checkpoint: str,
    training_images: list[int],
    data_summary: dict[str, Any],
) -> ModelVersion:
    """The 'training' version this run produces, created and linked to the run in one transaction.

    A run redelivered after its worker died reuses the version its killed attempt created
    (updated with this attempt's data): one run, one version.
    """
    fields = {
        "parent": parent,
        "checkpoint": checkpoint,
        "status": ModelVersion.Status.TRAINING,
        "training_images": training_images,
        "data_summary": data_summary,
    }
    version = run.result_version
    if version is not None and version.status == ModelVersion.Status.TRAINING:
        for name, value in fields.items():
            setattr(version, name, value)
        version.save(update_fields=list(fields))
        return version
    with transaction.atomic():
        version = ModelVersion.objects.create(
            project=run.project, name=next_version_name(run.project), **fields
        )
        TrainingRun.objects.filter(pk=run.pk).update(result_version=version)
    run.result_version = version
    return version


def next_version_name(project: Project | None) -> str:
    """The next version's name: ``universal-base-v<n>`` for bases, ``<project slug>-v<n>``."""
    count = ModelVersion.objects.filter(project=project).count()
    return f"universal-base-v{count + 1}" if project is None else f"{project.slug}-v{count + 1}"


def run_progress_reporter(*, run: TrainingRun) -> Callable[[dict[str, Any]], None]:
    """``progress`` callback: epoch / loss / ETA into the run row (training is 5-90 % of the bar)."""

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


def run_cancel_poller(*, run: TrainingRun) -> Callable[[], bool]:
    """``should_stop`` for the training loop; reads the DB at most once every ``CANCEL_POLL_SECONDS``."""
    state = {"at": 0.0, "stop": False}

    def should_stop() -> bool:
        now = time.monotonic()
        if not state["stop"] and now - state["at"] >= CANCEL_POLL_SECONDS:
            state["at"], state["stop"] = now, _cancel_requested(run)
        return state["stop"]

    return should_stop


def run_stop_if_cancelled(*, run: TrainingRun) -> None:
    """Raise ``RunCancelled`` when a user asked to cancel (the training loop may have stopped early for it)."""
    if _cancel_requested(run):
        raise RunCancelled()


def _cancel_requested(run: TrainingRun) -> bool:
    return bool(TrainingRun.objects.filter(pk=run.pk).values_list("cancel_requested", flat=True).first())


def run_abort(
    *, run: TrainingRun, error: Exception, workdir: Path, scratch: tuple[str, ...], kept: str
) -> None:
    """End a run that was cancelled or failed: its version failed, ``scratch`` removed, the run says why.

    ``scratch`` names the files and folders in ``workdir`` the attempt wrote (training data,
    the checkpoint); ``kept`` names the model left in use, e.g. "the active model".
    """
    cancelled = isinstance(error, RunCancelled)
    reason = "run cancelled" if cancelled else str(error)
    ModelVersion.objects.filter(pk=run.result_version_id, status=ModelVersion.Status.TRAINING).update(
        status=ModelVersion.Status.FAILED, metrics={"error": reason[:2000]}
    )
    for name in scratch:
        path = workdir / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if cancelled:
        job_cancel(job=run, message=f"Cancelled; {kept} is unchanged")
        return
    log.error(
        "%s %s failed", "base run" if run.project_id is None else "training run", run.pk, exc_info=error
    )
    message = error.message if isinstance(error, ApplicationError) else f"{type(error).__name__}: {error}"
    job_fail(job=run, message=f"{message} — {kept} is unchanged")


def run_version_ready(*, version: ModelVersion, checkpoint: str, metrics: dict[str, Any]) -> None:
    """The run's version trained and scored: 'ready', whether or not it gets promoted.

    Its pre-label threshold is what its own checkpoint says: ``ml.universal.train`` carries the
    grouping over from the starting checkpoint but not the score calibration, so a trained
    checkpoint scores uncalibrated and pre-labels every shape (threshold 0) until it is calibrated.
    """
    version.checkpoint, version.metrics, version.status = checkpoint, metrics, ModelVersion.Status.READY
    version.prelabel_threshold = universal_adapter.prelabel_threshold(checkpoint)
    version.save(update_fields=["checkpoint", "metrics", "status", "prelabel_threshold"])


def run_finish(
    *, run: TrainingRun, version: ModelVersion, reason: str, promote: Callable[[], None] | None
) -> None:
    """Promote ``version`` when ``promote`` is given, then finish the run with the decision and ``reason``.

    A failed promotion fails the run and leaves the version 'ready' with its numbers (promote it by hand).
    """
    if promote is not None:
        try:
            promote()
        except Exception as exc:
            log.exception("promotion after training run %s failed", run.pk)
            job_fail(job=run, message=f"{version.name} was better ({reason}) but promotion failed: {exc}")
            return
    job_succeed(job=run, message=f"{version.name} {'promoted' if promote else 'not promoted'}: {reason}")


def run_versions_fail_orphaned(*, project: Project | None) -> int:
    """Fail the versions left 'training' in ``project`` (``None``: the base); call only while no run of it is active.

    Older data: since runs link their version as they create it, the reaper catches these
    (``run_versions_fail_stopped``).
    """
    return ModelVersion.objects.filter(project=project, status=ModelVersion.Status.TRAINING).update(
        status=ModelVersion.Status.FAILED, metrics={"error": STOPPED_WITHOUT_FINISHING}
    )


def run_versions_fail_stopped() -> int:
    """Fail the versions still 'training' whose run has finished: its worker died and the reaper failed the run.

    Called by the reaper after it fails stale runs, so a dead run leaves no version 'training'.
    Only versions linked to a finished run are touched, never one a live run is working on.
    Such a run's folder holds only what the dead attempt half-wrote (no version uses it): removed.
    """
    stopped = list(
        TrainingRun.objects.filter(
            status__in=FINISHED_STATUSES, result_version__status=ModelVersion.Status.TRAINING
        )
    )
    failed = ModelVersion.objects.filter(
        status=ModelVersion.Status.TRAINING,
        pk__in=[run.result_version_id for run in stopped],
    ).update(status=ModelVersion.Status.FAILED, metrics={"error": STOPPED_WITHOUT_FINISHING})
    for run in stopped:
        shutil.rmtree(run_workdir(run=run), ignore_errors=True)
    return failed

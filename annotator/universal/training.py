"""Base runs: a site-level TrainingRun (``project=None``) that trains the next universal base.

Data: the accepted train-split images of every opted-in project, mapped to the taxonomy
(written by the learning loop's ``write_split``), plus synthetic scenes. Candidate: the retrained
base averaged with the current one at the alpha the gate's sets prefer (``UNIVERSAL_BLEND_GRID``;
``docs/fleet.md``). Gate: the candidate
and the current base on the synthetic held-out set and on every contributing project's val
split (same mapping); promoted only if the mean mask AP rises and no project loses more than
``UNIVERSAL_GATE_TOLERANCE``. The report has one row per set.
"""

from __future__ import annotations

import logging
import shutil
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotator.errors import ApplicationError, ConflictError
from annotator.jobs.enqueue import enqueue
from annotator.jobs.services import job_fail, job_report
from annotator.learning import registry, runs
from annotator.learning.adapters import training as training_adapter
from annotator.learning.models import ACTIVE_RUN_STATUSES, ModelVersion, TrainingRun
from annotator.learning.services import base_model_version
from annotator.projects.models import Image, Project

from .models import BaseEvaluation, BaseTrainingLock
from .selectors import contributed_since_last_base_run, contributing_projects

log = logging.getLogger(__name__)


TRAIN_BASE_MODEL = "annotator.universal.tasks.train_base_model"
EVALUATE_BASE_FOR_PROJECTS = "annotator.universal.tasks.evaluate_base_for_projects"
SYNTHETIC = "synthetic held-out"
SYNTHETIC_VAL_SEED = 424_242  # fixed: every gate compares on the same held-out scenes
SYNTHETIC_TRAIN_SEED = 515_151
SCRATCH = ("projects", "model.pt", "blends", "blended.pt")  # what a failed or cancelled run removes


def base_run_request(*, user=None, trigger: str = "manual") -> TrainingRun:
    """Create a pending base run and queue it; ``ConflictError`` while another base run is pending/running."""
    if base_model_version() is None:
        raise ApplicationError(
            "No universal base to start from: the shipped checkpoint is missing", code="no_base_model"
        )
    try:
        with transaction.atomic():
            _lock()
            current = TrainingRun.objects.filter(project__isnull=True, status__in=ACTIVE_RUN_STATUSES).first()
            if current is not None:
                raise ConflictError(
                    f"Base run #{current.pk} is still {current.status}; one base run at a time",
                    code="base_training_in_progress",
                    extra={"training_run": current.pk},
                )
            runs.run_versions_fail_orphaned(project=None)
            run = TrainingRun.objects.create(
                project=None, requested_by=user, trigger=trigger, base_version=base_model_version()
            )
            enqueue(TRAIN_BASE_MODEL, run.pk, job=run)
    except IntegrityError as exc:  # the lock row was created concurrently: the other request won
        raise ConflictError(
            "Another base run was requested at the same moment", code="base_training_in_progress"
        ) from exc
    return run


def _lock() -> BaseTrainingLock:
    row = BaseTrainingLock.objects.select_for_update().filter(pk=1).first()
    if row is None:
        row = BaseTrainingLock.objects.create(pk=1)
        row = BaseTrainingLock.objects.select_for_update().get(pk=1)
    return row


def base_retrain_check() -> TrainingRun | None:
    """The periodic trigger: a base run once enough contributed images were accepted since the last one."""
    threshold = max(1, int(settings.ANNOTATOR["UNIVERSAL_NEW_IMAGES_THRESHOLD"]))
    if contributed_since_last_base_run() < threshold:
        return None
    try:
        return base_run_request(trigger="schedule")
    except ApplicationError as exc:
        log.info("base retraining check skipped: %s", exc.message)
        return None


# --------------------------------------------------------------------------- the run


def base_run_execute(*, run: TrainingRun) -> TrainingRun:
    """Write the data, train the candidate from the current base, gate it on every set, promote or not."""
    from ml.fleet.base import retrain_base
    from ml.fleet.data import CocoSource, write_synthetic

    current = run.base_version or base_model_version()
    if current is None:
        job_fail(job=run, message="No universal base to start from")
        return run
    workdir = runs.run_workdir_fresh(run=run)
    size = int(settings.ANNOTATOR["UNIVERSAL_SCENE_SIZE"])
    try:
        job_report(job=run, progress=1, message="Writing the contributed and synthetic data")
        projects = list(contributing_projects())
        sources, vals, summary, training_images = [], {}, {}, []
        for project in projects:
            folder = workdir / "projects" / str(project.pk)
            train = training_adapter.write_split(project=project, split=Image.Split.TRAIN, out_dir=folder)
            val = training_adapter.write_split(project=project, split=Image.Split.VAL, out_dir=folder)
            training_images.extend(train.images)
            if train.images:
                sources.append(CocoSource(train.path, f"project {project.pk}"))
            if val.images:
                vals[project] = val
            summary[str(project.pk)] = {
                "name": project.name,
                "slug": project.slug,
                "images": len(train.images),
                "annotations": train.annotations,
                "per_category": train.per_category,
                "val_images": len(val.images),
            }
        synthetic_count = int(settings.ANNOTATOR["UNIVERSAL_SYNTHETIC_TRAIN_SCENES"])
        if synthetic_count:
            sources.append(
                write_synthetic(
                    workdir / "synthetic_train", count=synthetic_count, seed=SYNTHETIC_TRAIN_SEED, size=size
                )
            )
        held_out = write_synthetic(
            workdir / "synthetic_val",
            count=max(1, int(settings.ANNOTATOR["UNIVERSAL_SYNTHETIC_VAL_SCENES"])),
            seed=SYNTHETIC_VAL_SEED,
            size=size,
        )
        version = runs.run_version_ensure(
            run=run,
            parent=current,
            checkpoint=str(workdir / "model.pt"),
            training_images=training_images,
            data_summary={
                "projects": summary,
                "synthetic_scenes": synthetic_count,
                "base": current.name,
                "images": len(training_images),
            },
        )
        epochs = int(settings.ANNOTATOR["UNIVERSAL_EPOCHS"]) or None
        result = retrain_base(
            current.checkpoint,
            sources,
            held_out.coco,
            workdir / "model.pt",
            work_dir=workdir,
            budget_seconds=settings.ANNOTATOR["UNIVERSAL_BUDGET_SECONDS"],
            epochs=epochs,
            lr=settings.ANNOTATOR["UNIVERSAL_LR"],
            progress=runs.run_progress_reporter(run=run),
            should_stop=runs.run_cancel_poller(run=run),
        )
        runs.run_stop_if_cancelled(run=run)
        checkpoint = str(result.get("checkpoint") or workdir / "model.pt")
        blend = _blend(run=run, retrained=checkpoint, current=current, held_out=held_out.coco, vals=vals)
        if blend is not None:
            checkpoint = blend["checkpoint"]
        job_report(job=run, progress=95, message="Gate: the candidate and the current base on every set")
        gate = _gate(
            run=run,
            candidate=version,
            candidate_checkpoint=checkpoint,
            current=current,
            held_out=held_out.coco,
            vals=vals,
            candidate_metrics=blend and blend["metrics"],
        )
    except Exception as exc:  # cancelled or failed: say why, keep the current base
        runs.run_abort(run=run, error=exc, workdir=workdir, scratch=SCRATCH, kept="the universal base")
        return run

    decision = "promoted" if gate.promote else "not promoted"
    runs.run_version_ready(
        version=version,
        checkpoint=checkpoint,
        metrics={
            "mask_ap": next((r.candidate for r in gate.rows if r.name == SYNTHETIC), None),
            "gate": {
                "mean": gate.mean_candidate,
                "compared_with": current.name,
                "mean_current": gate.mean_current,
            },
        },
    )
    run.report = {
        "decision": decision,
        "reason": gate.reason,
        "tolerance": gate.tolerance,
        "mean_candidate": gate.mean_candidate,
        "mean_current": gate.mean_current,
        "rows": [_row_out(r, vals) for r in gate.rows],
        "regressions": [_row_out(r, vals)["name"] for r in gate.rows if r.regressed],
        "data": version.data_summary,
        "train": {k: v for k, v in result.items() if isinstance(v, int | float | str)},
        "blend": blend and {k: blend[k] for k in ("alpha", "means")},
    }
    run.save(update_fields=["report"])
    promote = partial(base_version_promote, version=version, reason=f"base run #{run.pk}: {gate.reason}")
    runs.run_finish(run=run, version=version, reason=gate.reason, promote=promote if gate.promote else None)
    return run


def _set_key(project: Project | None) -> str:
    return SYNTHETIC if project is None else f"project {project.pk}"


def _row_out(row, vals: dict) -> dict[str, Any]:
    project = next((p for p in vals if _set_key(p) == row.name), None)
    return {
        "set": "synthetic" if project is None else "project",
        "project": project.pk if project else None,
        "name": project.name if project else SYNTHETIC,
        "candidate": row.candidate,
        "current": row.current,
        "delta": row.delta,
        "regressed": row.regressed,
        "images": row.images,
    }


def _blend(
    *, run: TrainingRun, retrained: str, current: ModelVersion, held_out: Path, vals: dict
) -> dict[str, Any] | None:
    """The candidate: the retrained weights averaged with the current base's, alpha x retrained + (1 - alpha) x
    current, at the alpha with the best mean mask AP over the gate's sets (``ml.fleet.base.blend_with_previous``;
    WiSE-FT). A retraining moves the base away from what it knew; the average keeps it (docs/fleet.md). None when
    ``UNIVERSAL_BLEND_GRID`` is 1: the retrained base as it is. ``metrics`` holds the chosen blend's figures on
    each set, so the gate does not measure them again."""
    from ml.fleet.base import blend_with_previous

    grid = int(settings.ANNOTATOR["UNIVERSAL_BLEND_GRID"])
    if grid <= 1:
        return None
    workdir = Path(retrained).parent
    sets = {None: training_adapter.CocoSplit(path=Path(held_out), images=[]), **vals}
    seen: dict[str, dict[str, dict[str, Any]]] = {}  # each try's path: its full metrics on each set

    def score(path: Path) -> dict[str, float]:
        runs.run_stop_if_cancelled(run=run)
        job_report(
            job=run,
            progress=90 + (5 * (len(seen) + 1)) // grid,
            message=f"Averaging with the current base: blend {len(seen) + 1} of {grid} on every set",
        )
        seen[str(path)] = {
            _set_key(project): training_adapter.evaluate(checkpoint=str(path), split=split)
            for project, split in sets.items()
        }
        return {key: float(metrics.get("mask_ap", 0.0)) for key, metrics in seen[str(path)].items()}

    out = workdir / "blended.pt"
    chosen = blend_with_previous(
        retrained, current.checkpoint, out, score, work_dir=workdir / "blends", grid=grid
    )
    metrics = seen[chosen["tries"][f"{chosen['alpha']:g}"]]  # out holds the same weights
    return {**chosen, "checkpoint": str(out), "metrics": metrics}


def _gate(
    *,
    run: TrainingRun,
    candidate: ModelVersion,
    candidate_checkpoint: str,
    current: ModelVersion,
    held_out: Path,
    vals: dict,
    candidate_metrics: dict[str, dict[str, Any]] | None = None,
):
    """Score both models on every set, store the figures (BaseEvaluation), decide with ``ml.fleet.gate``.
    ``candidate_metrics``: the candidate's figures per set where they are known already (the blend search's)."""
    from ml.fleet.gate import gate_decide

    # A run taken over from a dead worker measures again: its killed attempt's figures go.
    BaseEvaluation.objects.filter(run=run).delete()
    sets: dict[Project | None, training_adapter.CocoSplit] = {
        None: training_adapter.CocoSplit(path=Path(held_out), images=[]),
        **vals,
    }
    scores: dict[str, dict[str, float]] = {"candidate": {}, "current": {}}
    images: dict[str, int] = {}
    for project, split in sets.items():
        for side, version, checkpoint in (
            ("candidate", candidate, candidate_checkpoint),
            ("current", current, current.checkpoint),
        ):
            known = (candidate_metrics or {}).get(_set_key(project)) if side == "candidate" else None
            metrics = (
                known if known is not None else training_adapter.evaluate(checkpoint=checkpoint, split=split)
            )
            scores[side][_set_key(project)] = float(metrics.get("mask_ap", 0.0))
            BaseEvaluation.objects.create(
                version=version,
                project=project,
                run=run,
                mask_ap=float(metrics.get("mask_ap", 0.0)),
                images=int(metrics.get("images", 0)),
                metrics=metrics,
            )
        images[_set_key(project)] = (
            len(split.images) if project is not None else int(metrics.get("images", 0))
        )
    return gate_decide(
        scores["candidate"],
        scores["current"],
        tolerance=settings.ANNOTATOR["UNIVERSAL_GATE_TOLERANCE"],
        images=images,
    )


def base_version_promote(*, version: ModelVersion, reason: str) -> None:
    """Make ``version`` the universal base; projects that follow the base get their pending images re-scored."""
    if version.project_id is not None:
        raise ApplicationError("Only a base version can become the universal base", code="not_a_base_version")
    with transaction.atomic():
        _lock()
        ModelVersion.objects.filter(project__isnull=True, status=ModelVersion.Status.PROMOTED).exclude(
            pk=version.pk
        ).update(status=ModelVersion.Status.ARCHIVED)
        version.status, version.promoted_at = ModelVersion.Status.PROMOTED, timezone.now()
        version.data_summary = {**version.data_summary, "promotion": reason}
        version.save(update_fields=["status", "promoted_at", "data_summary"])
        registry.projects_following_base_rescore()  # their pre-labels now come from the new base
        enqueue(EVALUATE_BASE_FOR_PROJECTS, version.pk)


def base_evaluate_for_projects(*, version: ModelVersion) -> list[BaseEvaluation]:
    """Figures of a base on the val split of every project the gate did not already score (for the notice)."""
    done = set(BaseEvaluation.objects.filter(version=version).values_list("project_id", flat=True))
    created = []
    for project in Project.objects.exclude(pk__in=[pk for pk in done if pk is not None]):
        folder = Path(settings.ANNOTATOR["MODEL_ROOT"]) / "universal" / f"eval_{version.pk}" / str(project.pk)
        split = training_adapter.write_split(project=project, split=Image.Split.VAL, out_dir=folder)
        if split.images:
            metrics = training_adapter.evaluate(checkpoint=version.checkpoint, split=split)
            created.append(
                BaseEvaluation.objects.create(
                    version=version,
                    project=project,
                    images=len(split.images),
                    mask_ap=float(metrics.get("mask_ap", 0.0)),
                    metrics=metrics,
                )
            )
        shutil.rmtree(folder, ignore_errors=True)
    return created

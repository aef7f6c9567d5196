"""The dashboard's figures: a read model across the apps below ``web`` (only ``web`` may join them)."""

from __future__ import annotations

from annotator.datasets.models import ExportJob
from annotator.jobs.models import BatchJob
from annotator.learning.models import TrainingRun
from annotator.learning.services import active_model_for
from annotator.projects.models import Project
from annotator.projects.selectors import batch_progress, status_counts
from annotator.prompting.engine import engine_settings


def project_stats(*, project: Project) -> dict:
    """Counts by status, progress of background work, and the active model (the dashboard)."""
    counts = status_counts(project=project)
    jobs = {}
    for kind in (BatchJob.Kind.EMBEDDING, BatchJob.Kind.PRE_LABEL):
        done, total = batch_progress(project=project, kind=kind)
        jobs["embedding" if kind == BatchJob.Kind.EMBEDDING else "prelabel"] = {"done": done, "total": total}
    run = TrainingRun.objects.filter(project=project).order_by("-created_at").first()
    jobs["training"] = (
        None
        if run is None
        else {
            "id": run.id,
            "status": run.status,
            "progress": run.progress,
            "message": run.message,
            "epoch": run.epoch,
            "epochs": run.epochs,
            "loss": run.loss,
            "eta_seconds": run.eta_seconds,
        }
    )
    export = ExportJob.objects.filter(project=project).order_by("-created_at").first()
    jobs["export"] = (
        None
        if export is None
        else {
            "id": export.id,
            "status": export.status,
            "progress": export.progress,
            "download_url": f"/api/v1/exports/{export.id}/download" if export.file else None,
        }
    )
    model = active_model_for(project)
    return {
        "counts": counts,
        "jobs": jobs,
        "active_model": None
        if model is None
        else {"id": model.id, "name": model.name, "metrics": model.metrics},
        "prompt_engine": engine_settings(project.prompt_engine)[0],
    }

"""Celery tasks for COCO datasets: thin and idempotent (the ExportJob status is the guard)."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, queue="default")
def export_coco(export_job_id: int) -> None:
    from .services import export_run

    export_run(job_id=export_job_id)

"""Celery tasks for COCO datasets: thin and idempotent (the ExportJob status is the guard)."""

from __future__ import annotations

from celery import shared_task

from .services import export_run


@shared_task(acks_late=True)
def export_coco(export_job_id: int) -> None:
    export_run(job_id=export_job_id)

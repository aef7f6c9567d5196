"""COCO export and import: the writes. Export runs as an ExportJob on the ``default`` queue;
import is two steps (analyse → report and plan; accept → one transaction).

The import side lives in ``annotator.datasets.imports``; this module holds export and the
public entry points of both, so views and tasks import from one place.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import tempfile
import zipfile
from datetime import datetime
from typing import Any

from django.core.files import File
from django.utils import timezone

from annotator.errors import ApplicationError
from annotator.jobs.enqueue import enqueue
from annotator.jobs.services import job_cancel, job_fail, job_report, job_start, job_succeed
from annotator.projects.models import Category, ImageStatus, Project

from . import coco_writer, selectors
from .imports import import_accept, import_create  # noqa: F401  (public entry points)
from .models import ExportJob

log = logging.getLogger(__name__)

EXPORT_COCO = "annotator.datasets.tasks.export_coco"
CHUNK = 2000
INSTANCES = "instances"
PREDICTIONS = "predictions"


class ExportCancelled(Exception):
    pass


def export_create(
    *,
    project: Project,
    user,
    kind: str = INSTANCES,
    segmentation: str = coco_writer.POLYGONS,
    include_images: bool = True,
    statuses: list[str] | None = None,
    split: str | None = None,
    category_ids: list[int] | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    model_version_id: int | None = None,
) -> ExportJob:
    """Record an export job with its normalised options and queue it once the row is committed."""
    if kind not in (INSTANCES, PREDICTIONS):
        raise ApplicationError(f"Unknown export kind {kind!r}", field="kind")
    if segmentation not in (coco_writer.POLYGONS, coco_writer.RLE):
        raise ApplicationError("segmentation must be 'polygons' or 'rle'", field="segmentation")
    bad = sorted(set(statuses or []) - set(ImageStatus.values))
    if bad:
        raise ApplicationError(f"Unknown image status {bad[0]!r}", field="status")
    if category_ids is not None:
        known = set(
            Category.objects.filter(project=project, id__in=category_ids).values_list("id", flat=True)
        )
        missing = sorted(set(category_ids) - known)
        if missing:
            raise ApplicationError(
                f"Category {missing[0]} is not a category of this project", field="categories"
            )
    if date_from and date_to and date_from >= date_to:
        raise ApplicationError("date_from must be before date_to", field="date_from")
    if kind == PREDICTIONS:
        if model_version_id is None:
            raise ApplicationError("A predictions export needs a model_version", field="model_version")
        if selectors.model_version_for_project(project=project, model_version_id=model_version_id) is None:
            raise ApplicationError(
                f"Model version {model_version_id} is not available in this project",
                field="model_version",
                code="not_found",
                status_code=404,
            )
    options = {
        "kind": kind,
        "segmentation": segmentation,
        "include_images": include_images and kind == INSTANCES,
        "statuses": sorted(set(statuses or [ImageStatus.ACCEPTED])),
        "split": split,
        "category_ids": None if category_ids is None else sorted(set(category_ids)),
        "date_from": date_from.isoformat() if date_from else None,
        "date_to": date_to.isoformat() if date_to else None,
        "model_version": model_version_id,
    }
    job = ExportJob.objects.create(project=project, requested_by=user, options=options)
    enqueue(EXPORT_COCO, job.id, job=job)
    return job


def export_run(*, job_id: int) -> ExportJob | None:
    """Run one export job to the end; safe to call twice (the job status is the guard)."""
    job = job_start(model=ExportJob, job_id=job_id)
    if job is None:
        return None
    workdir = tempfile.mkdtemp(prefix=f"export-{job.pk}-")
    try:
        if job.options.get("kind") == PREDICTIONS:
            path, summary = _write_results(job, workdir)
        else:
            path, summary = _write_instances(job, workdir)
        with open(path, "rb") as fp:
            job.file.save(os.path.basename(path), File(fp), save=False)
        summary["bytes"] = job.file.size
        job.summary = summary
        job.save(update_fields=["file", "summary"])
        job_succeed(
            job=job, message=f"{summary.get('images', 0)} images, {summary.get('annotations', 0)} annotations"
        )
    except ExportCancelled:
        job_cancel(job=job, message="Cancelled while exporting")
    except Exception as exc:
        log.exception("export %s failed", job_id)
        job_fail(job=job, message=f"Export failed: {exc}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    job.refresh_from_db()
    return job


def _scan(job: ExportJob) -> tuple[Any, list[Category]]:
    o = job.options
    images = selectors.export_images(
        project=job.project,
        statuses=o.get("statuses"),
        split=o.get("split"),
        date_from=_parse_dt(o.get("date_from")),
        date_to=_parse_dt(o.get("date_to")),
    )
    return images, selectors.export_categories(project=job.project, category_ids=o.get("category_ids"))


def _write_instances(job: ExportJob, workdir: str) -> tuple[str, dict[str, Any]]:
    o = job.options
    images, categories = _scan(job)
    annotation_rows = selectors.export_annotation_rows(images=images, category_ids=o.get("category_ids"))
    total_images = images.count()
    total = total_images * (2 if o["include_images"] else 1) + annotation_rows.count()
    progress = _Progress(job, total=max(1, total))
    base = f"{job.project.slug}-coco-{job.pk}"
    names = coco_writer.ZipNames()
    if o["include_images"]:
        path = os.path.join(workdir, f"{base}.zip")
        archive = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=3)
        raw = archive.open(coco_writer.ANNOTATIONS_MEMBER, "w", force_zip64=True)
        stream = io.TextIOWrapper(raw, encoding="utf-8", write_through=False)
    else:
        path = os.path.join(workdir, f"{base}.json")
        archive, stream = None, open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        writer = coco_writer.CocoInstancesWriter(stream)
        writer.begin(
            info=_info(job),
            categories=[{"id": c.export_id, "name": c.name, "supercategory": "package"} for c in categories],
        )
        files: list[tuple[str, str]] = []
        for image_id, name, width, height, file_name, ext, split, status in selectors.export_image_rows(
            images
        ).iterator(chunk_size=CHUNK):
            member = names.name_for(image_id=image_id, name=name, ext=ext)
            writer.image(
                {
                    "id": image_id,
                    "file_name": member,
                    "width": width,
                    "height": height,
                    "split": split or None,
                    "status": status,
                }
            )
            if o["include_images"]:
                files.append((member, file_name))
            progress.step()
        export_ids = {c.id: c.export_id for c in categories}
        skipped = 0
        for ann_id, image_id, category_id, shape, height, width in annotation_rows.iterator(chunk_size=CHUNK):
            if not shape or category_id not in export_ids:
                skipped += 1
                continue
            writer.annotation(
                coco_writer.coco_annotation(
                    annotation_id=ann_id,
                    image_id=image_id,
                    category_id=export_ids[category_id],
                    shape=shape,
                    height=height,
                    width=width,
                    segmentation_mode=o["segmentation"],
                )
            )
            progress.step()
        writer.end()
        stream.flush()
        stream.close()
        if archive is not None:
            _copy_images(archive, files, progress)
            archive.close()
    except BaseException:
        if archive is not None:
            archive.close()
        raise
    return path, {
        "format": "coco_instances",
        "segmentation": o["segmentation"],
        "include_images": o["include_images"],
        "images": writer.counts["images"],
        "annotations": writer.counts["annotations"],
        "categories": len(categories),
        "skipped_annotations": skipped,
    }


def _copy_images(archive: zipfile.ZipFile, files: list[tuple[str, str]], progress: _Progress) -> None:
    from django.core.files.storage import default_storage

    for member, stored_name in files:
        info = zipfile.ZipInfo(member, date_time=timezone.now().timetuple()[:6])
        info.compress_type = zipfile.ZIP_STORED  # images are already compressed
        with default_storage.open(stored_name, "rb") as src, archive.open(info, "w", force_zip64=True) as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
        progress.step()


def _write_results(job: ExportJob, workdir: str) -> tuple[str, dict[str, Any]]:
    version = selectors.model_version_for_project(
        project=job.project, model_version_id=job.options["model_version"]
    )
    if version is None:
        raise ApplicationError("The model version no longer exists")
    export_ids = dict(Category.objects.filter(project=job.project).values_list("id", "export_id"))
    rows = selectors.prediction_rows(model_version=version, project=job.project)
    progress = _Progress(job, total=max(1, rows.count()))
    path = os.path.join(workdir, f"{job.project.slug}-results-{version.pk}-{job.pk}.json")
    skipped = 0
    with open(path, "w", encoding="utf-8") as stream:
        writer = coco_writer.CocoResultsWriter(stream)
        for image_id, instances, height, width in rows.iterator(chunk_size=CHUNK):
            for inst in instances or []:
                category = export_ids.get(inst.get("category"))
                if category is None or not inst.get("shape"):
                    skipped += 1
                    continue
                writer.result(
                    coco_writer.coco_result(
                        image_id=image_id,
                        category_id=category,
                        shape=inst["shape"],
                        score=inst.get("score") if inst.get("score") is not None else 1.0,
                        height=height,
                        width=width,
                    )
                )
            progress.step()
        writer.end()
    return path, {
        "format": "coco_results",
        "model_version": version.pk,
        "detections": writer.count,
        "images": progress.done,
        "skipped_instances": skipped,
    }


class _Progress:
    """Reports progress at most every ``every`` steps; raises ExportCancelled when asked to stop."""

    def __init__(self, job: ExportJob, *, total: int, every: int = 1000) -> None:
        self.job, self.total, self.every, self.done = job, total, every, 0
        self._last = 0

    def step(self, n: int = 1) -> None:
        self.done += n
        if self.done - self._last >= self.every:
            self._report()

    def _report(self) -> None:
        self._last = self.done
        if not job_report(job=self.job, progress=min(99, int(100 * self.done / self.total))):
            raise ExportCancelled()


def _info(job: ExportJob) -> dict[str, Any]:
    return {
        "description": f"{job.project.name}: COCO export #{job.pk}",
        "version": "1.0",
        "date_created": timezone.now().isoformat(),
        "contributor": job.requested_by.get_username() if job.requested_by else "",
        "filters": {k: v for k, v in job.options.items() if k not in ("kind",)},
    }


def _parse_dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None

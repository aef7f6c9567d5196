"""COCO import, the writes: create an ImportJob with a report and a plan, then apply it on accept.

Two steps, all or nothing. ``import_create`` analyses the upload and stores the files and the
report; nothing else is written. ``import_accept`` analyses the stored files again, checks the
result is the plan the user saw (same digest), and applies it in one transaction: new images
from the zip, new categories if asked, and per image either accepted ground truth (set replaced,
status walked to ``accepted``, a Revision with action ``import``) or Prediction rows.
"""

from __future__ import annotations

import io
import logging
import zipfile
from contextlib import contextmanager
from typing import IO, Any

from django.db import transaction
from django.utils import timezone

from annotator.annotations.models import Revision, Source
from annotator.annotations.services import annotation_set_replace, clean_annotations, image_pre_label
from annotator.errors import ApplicationError, ConflictError
from annotator.jobs.models import JobStatus
from annotator.jobs.services import job_fail
from annotator.learning.models import ModelVersion, Prediction
from annotator.projects.ingest import display_name, images_ingest
from annotator.projects.models import Category, Image, ImageStatus, Project

from .coco_reader import GROUND_TRUTH, PREDICTIONS, Analysis, CocoFileError, coco_analyse, load_coco_json
from .models import ImportJob

log = logging.getLogger(__name__)

# The shortest legal walk through Image.TRANSITIONS from each status to ``accepted``.
_WALK_TO_ACCEPTED = {
    ImageStatus.ACCEPTED: [],
    ImageStatus.SUBMITTED: [ImageStatus.ACCEPTED],
    ImageStatus.IN_PROGRESS: [ImageStatus.SUBMITTED, ImageStatus.ACCEPTED],
}
_WALK_FROM_OTHERS = [ImageStatus.IN_PROGRESS, ImageStatus.SUBMITTED, ImageStatus.ACCEPTED]
INGEST_BATCH = 200


def import_create(
    *,
    project: Project,
    user,
    annotations_file: IO[bytes],
    annotations_name: str = "annotations.json",
    images_zip: IO[bytes] | None = None,
    images_zip_name: str = "images.zip",
    mode: str = GROUND_TRUTH,
    create_categories: bool = False,
) -> ImportJob:
    """Analyse an upload; store it with its report and plan. A file that is not COCO at all is a 400."""
    if mode not in (GROUND_TRUTH, PREDICTIONS):
        raise ApplicationError("mode must be 'ground_truth' or 'predictions'", field="mode")
    with _opened_zip(images_zip) as archive:
        analysis = _analyse(project, annotations_file, archive, mode, create_categories)
    options = {
        "mode": mode,
        "create_categories": create_categories,
        "match": "zip" if images_zip else "existing",
        "source_name": annotations_name[:200],
        "images_zip_name": images_zip_name[:200] if images_zip else None,
    }
    job = ImportJob(
        project=project,
        requested_by=user,
        options=options,
        report=analysis.report,
        message=_summary_line(analysis),
    )
    annotations_file.seek(0)
    job.source.save(f"{project.slug}-import.json", annotations_file, save=False)
    if images_zip is not None:
        images_zip.seek(0)
        job.images_zip.save(f"{project.slug}-import-images.zip", images_zip, save=False)
    job.save()
    return job


def import_accept(*, job: ImportJob, user) -> ImportJob:
    """Apply the plan the user accepted, in one transaction; a changed project is a 409 with a new report."""
    if job.status != JobStatus.PENDING:
        raise ConflictError(
            f"Import #{job.pk} is {job.status}; only a pending import can be accepted",
            code="not_pending",
            field="status",
        )
    with _stored_zip(job) as archive, job.source.open("rb") as source:
        analysis = _analyse(
            job.project, source, archive, job.options["mode"], job.options["create_categories"]
        )
        if analysis.digest != job.report.get("plan", {}).get("digest"):
            ImportJob.objects.filter(pk=job.pk).update(
                report=analysis.report, message=_summary_line(analysis)
            )
            raise ConflictError(
                "The project changed since this report was made (images or categories); the report was "
                "refreshed, review it and accept again",
                code="plan_changed",
                extra={"report": analysis.report},
            )
        created: list[Image] = []
        try:
            with transaction.atomic():
                locked = ImportJob.objects.select_for_update().get(pk=job.pk)
                if locked.status != JobStatus.PENDING:
                    raise ConflictError(
                        f"Import #{job.pk} is {locked.status}; it was accepted already",
                        code="not_pending",
                        field="status",
                    )
                result = _apply(locked, analysis, archive, user, created)
                locked.report = {**analysis.report, "result": result}
                locked.status = JobStatus.SUCCEEDED
                locked.progress = 100
                locked.started_at = locked.started_at or timezone.now()
                locked.finished_at = timezone.now()
                locked.message = (
                    f"Imported {result['annotations']} annotations on {result['images']} images "
                    f"({result['images_created']} new)"
                )
                locked.save()
        except ApplicationError:
            _forget_files(created)
            raise
        except Exception as exc:
            _forget_files(created)
            log.exception("import %s failed", job.pk)
            job.refresh_from_db()
            job_fail(job=job, message=f"Import failed, nothing was written: {exc}")
            raise ApplicationError(
                f"Import failed, nothing was written: {exc}", code="import_failed"
            ) from exc
    job.refresh_from_db()
    return job


# --------------------------------------------------------------------------- internals


def _analyse(project, source: IO[bytes], archive, mode: str, create_categories: bool) -> Analysis:
    try:
        coco = load_coco_json(source)
    except CocoFileError as exc:
        raise ApplicationError(
            f"The annotations file cannot be imported: {exc.message}",
            field="annotations",
            code="invalid_coco",
            extra={
                "report": {
                    "problems": [
                        {
                            "severity": "fatal",
                            "code": exc.code,
                            "message": exc.message,
                            "annotation_id": None,
                            "image_id": None,
                            "action": None,
                        }
                    ]
                }
            },
        ) from exc
    return coco_analyse(
        project=project, coco=coco, archive=archive, mode=mode, create_categories=create_categories
    )


@contextmanager
def _opened_zip(fileobj: IO[bytes] | None):
    if fileobj is None:
        yield None
        return
    try:
        archive = zipfile.ZipFile(fileobj)
        archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ApplicationError(
            f"The images file is not a readable zip archive ({exc})", field="images", code="bad_zip"
        ) from exc
    from django.conf import settings

    files = [m for m in archive.infolist() if not m.is_dir()]
    limit = settings.ANNOTATOR["MAX_ZIP_MEMBERS"]
    if len(files) > limit:
        raise ApplicationError(
            f"The images zip has {len(files)} files; the limit is {limit}",
            field="images",
            code="zip_too_many_members",
        )
    try:
        yield archive
    finally:
        archive.close()


@contextmanager
def _stored_zip(job: ImportJob):
    if not job.images_zip:
        yield None
        return
    with job.images_zip.open("rb") as fp, _opened_zip(fp) as archive:
        yield archive


def _apply(job: ImportJob, analysis: Analysis, archive, user, created: list[Image]) -> dict[str, Any]:
    project = job.project
    categories = _create_categories(project, analysis.categories_to_create)
    new_images = _ingest_members(project, analysis, archive, user, created)
    images = {
        img.pk: img
        for img in Image.objects.filter(pk__in=[p.existing_id for p in analysis.images if p.existing_id])
    }
    if len(images) != len([p for p in analysis.images if p.existing_id]):
        raise ConflictError(
            "An image of the plan was deleted meanwhile; nothing was written", code="plan_changed"
        )
    version = None
    if job.options["mode"] == PREDICTIONS:
        version = ModelVersion.objects.create(
            project=project,
            name=f"import #{job.pk}: {job.options.get('source_name', '')}"[:100],
            checkpoint="",
            status=ModelVersion.Status.ARCHIVED,
            data_summary={"imported_from": job.options.get("source_name"), "import_job": job.pk},
        )
    annotations = 0
    for planned in analysis.images:
        image = images.get(planned.existing_id) if planned.existing_id else new_images[planned.zip_member]
        items = [
            {
                "category": categories.get(a["category"], a["category"]),
                "shape": a["shape"],
                "source": Source.MANUAL if version is None else Source.MODEL,
                "score": a["score"],
            }
            for a in planned.annotations
        ]
        annotations += len(items)
        if version is None:
            _set_ground_truth(image, items, user, job)
        else:
            Prediction.objects.create(
                image=image,
                model_version=version,
                instances=[
                    {"category": i["category"], "shape": i["shape"], "score": i["score"]} for i in items
                ],
            )
            image_pre_label(image=image, instances=items)  # only where nobody has worked yet
    return {
        "images": len(analysis.images),
        "images_created": len(new_images),
        "annotations": annotations,
        "categories_created": len(analysis.categories_to_create),
        "model_version": version.pk if version else None,
    }


def _set_ground_truth(image: Image, items: list[dict[str, Any]], user, job: ImportJob) -> None:
    cleaned = clean_annotations(image=image, annotations=items)
    locked = Image.objects.select_for_update().select_related("project").get(pk=image.pk)
    for status in _WALK_TO_ACCEPTED.get(locked.status, _WALK_FROM_OTHERS):
        locked.transition_to(status)
    locked.lease_user = None
    locked.lease_expires_at = None
    annotation_set_replace(
        image=locked,
        cleaned=cleaned,
        user=user,
        action=Revision.Action.IMPORT,
        comment=f"COCO import #{job.pk}",
    )


def _create_categories(project: Project, to_create: list[dict[str, Any]]) -> dict[str, int]:
    out = {}
    for spec in to_create:
        category = Category.objects.create(project=project, name=spec["name"], export_id=spec["export_id"])
        out[spec["key"]] = category.id
    return out


def _ingest_members(project, analysis: Analysis, archive, user, created: list[Image]) -> dict[str, Image]:
    """Store the zip images the plan needs through the normal upload path (same checks, same processing)."""
    members = [p.zip_member for p in analysis.images if p.zip_member]
    names = {p.zip_member: p.file_name for p in analysis.images if p.zip_member}
    out: dict[str, Image] = {}
    for start in range(0, len(members), INGEST_BATCH):
        batch = members[start : start + INGEST_BATCH]
        uploads = [(names[m], io.BytesIO(archive.read(m))) for m in batch]
        report = images_ingest(project=project, uploads=uploads, user=user)
        created.extend(report.created)
        if report.rejected:
            r = report.rejected[0]
            raise ConflictError(f"'{r.file}' was refused on upload: {r.reason}", code="image_refused")
        by_name = {img.name: img for img in report.created}
        for member in batch:
            image = by_name.get(display_name(names[member]))
            if image is None:
                raise ConflictError(
                    f"'{names[member]}' is already in the project; the report is out of date",
                    code="plan_changed",
                )
            out[member] = image
    return out


def _forget_files(created: list[Image]) -> None:
    """Stored bytes of images whose rows were rolled back; their files would be orphans."""
    for image in created:
        if Image.objects.filter(pk=image.pk).exists():
            continue
        for f in (image.file, image.thumbnail):
            if f and f.name:
                f.storage.delete(f.name)


def _summary_line(analysis: Analysis) -> str:
    plan = analysis.report["plan"]
    problems = analysis.report["severity_counts"]
    return (
        f"Plan: {plan['annotations']} annotations on {plan['images']} images "
        f"({plan['images_created']} new); {problems.get('error', 0)} skipped, "
        f"{problems.get('warning', 0)} repaired. Waiting for acceptance."
    )

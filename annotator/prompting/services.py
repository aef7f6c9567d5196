"""Segmenting an image from an annotator's prompts (clicks, a box, a previous shape).

The expensive embedding is computed once per image by the ``compute_embedding`` task right
after upload (``images_embed``, on the ``images_added`` signal); here we only read it back and
run the cheap decoder. When it is not ready yet the caller gets a "pending" answer (HTTP 202)
and the task is (re)queued if needed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotator.errors import ApplicationError
from annotator.jobs.batches import batch_job_create
from annotator.jobs.enqueue import enqueue
from annotator.jobs.models import BatchJob
from annotator.projects.models import Image, Project
from annotator.projects.pixels import load_rgb
from annotator.projects.selectors import batch_progress
from ml import geometry

from . import engine as prompt_engine
from .models import Embedding

COMPUTE_EMBEDDING = "annotator.prompting.tasks.compute_embedding"


@dataclass
class SegmentAnswer:
    ready: bool
    engine: str
    shape: geometry.Shape | None = None
    score: float | None = None
    vertex_count: int | None = None
    iou_with_mask: float | None = None
    progress: int | None = None


class _EmbeddingCache:
    """The last few embeddings read from disk, so a run of clicks on one image reads the file once."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: str, load):
        with self._lock:
            if path in self._items:
                self._items.move_to_end(path)
                return self._items[path]
        value = load()
        with self._lock:
            self._items[path] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


_cache = _EmbeddingCache()


def image_segment(
    *,
    image: Image,
    points: list[list[float]],
    labels: list[int],
    box: list[float] | None,
    mask_shape: Any | None,
) -> SegmentAnswer:
    """Run the project's prompt engine on the stored embedding; raises ApplicationError on bad prompts."""
    from ml.prompt import InvalidPromptError, Prompts, segment_to_polygons, validate_prompts

    engine = prompt_engine.engine_for(image.project.prompt_engine)
    mask = None
    if mask_shape:
        try:
            clean = geometry.clean_shape(
                mask_shape, width=image.width, height=image.height, label="mask_shape"
            )
        except geometry.GeometryError as exc:
            raise ApplicationError(str(exc), field="mask_shape", code="invalid_prompt") from exc
        mask = geometry.shape_to_mask(clean, image.height, image.width)
    prompts = Prompts(
        points=[tuple(p) for p in points], labels=list(labels), box=tuple(box) if box else None, mask=mask
    )
    try:
        validate_prompts(prompts, image.width, image.height)
    except InvalidPromptError as exc:
        raise ApplicationError(str(exc), field=exc.field, code="invalid_prompt") from exc

    record = _ready_embedding(image, engine.engine_id)
    if record is None:
        return SegmentAnswer(ready=False, engine=engine.engine_id, progress=_embedding_progress(image))
    embedding = _cache.get(record.path, lambda: engine.embedding_from_bytes(Path(record.path).read_bytes()))
    result = prompt_engine.segment(engine, embedding, prompts)
    shape, vertices, iou = segment_to_polygons(result)
    return SegmentAnswer(
        ready=True,
        engine=result.engine_id,
        shape=shape,
        score=round(float(result.score), 4),
        vertex_count=vertices,
        iou_with_mask=round(float(iou), 4),
    )


def _ready_embedding(image: Image, engine_id: str) -> Embedding | None:
    """The stored embedding if usable; otherwise make sure one is being computed and return None."""
    record, created = Embedding.objects.get_or_create(image=image, engine_id=engine_id)
    if record.status == Embedding.Status.READY and Path(record.path).exists():
        return record
    if created or record.status in (Embedding.Status.FAILED, Embedding.Status.READY):
        # READY without a file means the file was lost (e.g. storage wiped): compute again.
        Embedding.objects.filter(pk=record.pk).update(status=Embedding.Status.PENDING)
        # a refused send must not leave it pending, or no later click would ask again
        enqueue(COMPUTE_EMBEDDING, image.id, None, on_failure=lambda: _embedding_not_queued(record))
    return None


def _embedding_not_queued(record: Embedding) -> None:
    Embedding.objects.filter(pk=record.pk, status=Embedding.Status.PENDING).update(
        status=Embedding.Status.FAILED,
        message="The task queue refused the computation; the next click asks again",
    )


def _embedding_progress(image: Image) -> int:
    done, total = batch_progress(project=image.project, kind=BatchJob.Kind.EMBEDDING)
    return round(100 * done / total) if total else 0


# --------------------------------------------------------------------------- embeddings


def images_embed(*, project: Project, image_ids: list[int]) -> BatchJob:
    """After upload: one embedding job over the new images, one task per image."""
    job = batch_job_create(project=project, kind=BatchJob.Kind.EMBEDDING, total=len(image_ids))
    for image_id in image_ids:
        enqueue(COMPUTE_EMBEDDING, image_id, job.id, job=job)
    return job


def embedding_ensure(*, image: Image) -> Embedding:
    """Compute and store the prompt-engine embedding of an image unless a valid one exists."""
    engine = prompt_engine.engine_for(image.project.prompt_engine)
    path = prompt_engine.embedding_path(sha256=image.sha256, engine_id=engine.engine_id)
    record, _ = Embedding.objects.get_or_create(image=image, engine_id=engine.engine_id)
    if record.status == Embedding.Status.READY and Path(record.path).exists():
        return record
    if not path.exists():  # the same pixels may already be embedded for another project
        data = prompt_engine.compute(engine, load_rgb(image))
        prompt_engine.store_embedding(path, data)
    record.path, record.status, record.message = str(path), Embedding.Status.READY, ""
    record.save(update_fields=["path", "status", "message", "updated_at"])
    return record

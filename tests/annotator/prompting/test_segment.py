"""Prompts to polygons through the API: the embedding task, the 202 path, SAM with a tiny checkpoint."""

import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from annotator.projects.models import Image
from annotator.prompting.models import Embedding
from annotator.prompting.services import embedding_ensure
from ml import geometry
from tests.conftest import wait_for

H, W = 96, 128
OBJECT = (slice(20, 70), slice(30, 100))  # rows, cols of a bright box on a dark floor


def scene_jpeg() -> bytes:
    rng = np.random.default_rng(3)
    pixels = (rng.normal(40, 6, size=(H, W, 3))).clip(0, 255).astype(np.uint8)
    pixels[OBJECT] = (200, 150, 90)
    buf = io.BytesIO()
    PILImage.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def object_mask() -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[OBJECT] = True
    return mask


def upload_scene(client, project) -> int:
    project.annotators_can_upload = True  # the annotator uploads here: the project allows it
    project.save(update_fields=["annotators_can_upload"])
    response = client.post(
        f"/api/v1/projects/{project.id}/images",
        {"files": [SimpleUploadedFile("scene.png", scene_jpeg())]},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    return response.json()["created"][0]["id"]


def segment(client, image_id, **body):
    return client.post(f"/api/v1/images/{image_id}/segment", body, format="json")


@pytest.mark.django_db(transaction=True)
def test_upload_then_embedding_task_then_segment_through_a_real_worker(celery_worker, project, client_for):
    client = client_for("annotator")
    image_id = upload_scene(client, project)

    ready = wait_for(
        lambda: Embedding.objects.filter(image_id=image_id, status="ready").first(),
        timeout=120,
        what=f"the embedding task\n{celery_worker.log()[-3000:]}",
    )
    assert ready.engine_id.startswith("offline")

    response = segment(client, image_id, points=[[65, 45]], labels=[1])
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["engine"] == ready.engine_id
    assert body["vertex_count"] == geometry.shape_vertex_count(body["shape"]) >= 4
    iou = geometry.mask_iou(geometry.shape_to_mask(body["shape"], H, W), object_mask())
    assert iou > 0.9, iou
    stats = client.get(f"/api/v1/projects/{project.id}/stats").json()
    assert stats["jobs"]["embedding"] == {"done": 1, "total": 1}


@pytest.mark.django_db
def test_segment_answers_202_until_the_embedding_exists(project, client_for):
    client = client_for("annotator")
    image_id = upload_scene(client, project)

    pending = segment(client, image_id, points=[[65, 45]], labels=[1])
    assert pending.status_code == 202
    assert pending.json()["status"] == "embedding"
    assert Embedding.objects.get(image_id=image_id).status == "pending"

    embedding_ensure(image=Image.objects.get(pk=image_id))  # what the worker's task does
    done = segment(client, image_id, points=[[65, 45]], labels=[1])
    assert done.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"points": [[500, 10]], "labels": [1]}, "points[0]"),
        ({"points": [[10, 10]], "labels": [1, 0]}, "labels"),
        ({"points": [[10, 10]], "labels": [2]}, "labels[0]"),
        ({"box": [50, 50, 10, 10]}, "box"),
        ({"box": [0, 0, 10, 999]}, "box"),
        ({"points": [[10, 10]], "labels": [0]}, "points"),
        ({}, "prompts"),
        ({"points": [[1, 2, 3]], "labels": [1]}, "points[0]"),
        ({"mask_shape": [[[[0, 0], [1, 1]]]]}, "mask_shape"),
    ],
)
def test_malformed_prompts_are_400_naming_the_part(project, client_for, body, field):
    client = client_for("annotator")
    image_id = upload_scene(client, project)
    response = segment(client, image_id, **body)
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["field"] == field


@pytest.mark.django_db
def test_sam_engine_with_a_tiny_checkpoint_serves_points_box_and_previous_mask(
    project, client_for, settings, tmp_path
):
    from annotator.prompting import engine as prompt_engine
    from ml.prompt.sam_models import build_sam_tiny, save_checkpoint

    checkpoint = tmp_path / "sam_tiny.pt"
    save_checkpoint(build_sam_tiny(), checkpoint, model_type="tiny")
    settings.ANNOTATOR = {**settings.ANNOTATOR, "SAM_CHECKPOINT": str(checkpoint)}
    project.prompt_engine = "sam"
    project.save()
    client = client_for("annotator")
    image_id = upload_scene(client, project)
    record = embedding_ensure(image=Image.objects.get(pk=image_id))
    assert record.engine_id.startswith("sam-tiny-")
    raw = open(record.path, "rb").read()
    stored = prompt_engine.engine_for("sam").embedding_from_bytes(raw)
    values = sum(a.size for a in stored.arrays.values())
    assert 0 < len(raw) - 2 * values < 4096  # a small JSON header, then 2 bytes (float16) per value

    by_point = segment(client, image_id, points=[[65, 45], [5, 5]], labels=[1, 0])
    by_box = segment(client, image_id, box=[30, 20, 100, 70])
    refined = segment(
        client,
        image_id,
        points=[[65, 45]],
        labels=[1],
        mask_shape=[[[[30, 20], [100, 20], [100, 70], [30, 70]]]],
    )
    for response in (by_point, by_box, refined):
        assert response.status_code == 200, response.json()
        assert response.json()["engine"] == record.engine_id

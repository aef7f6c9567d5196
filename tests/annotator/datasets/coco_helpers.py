"""Builders for COCO tests: accepted images with real files and shapes, export runs, zips."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from annotator.annotations.services import annotations_save, image_review, image_submit
from annotator.datasets.services import export_create, export_run
from annotator.projects.ingest import images_ingest
from annotator.projects.models import Image, Membership, Role
from tests.factories import image_bytes

# A box with a rectangular hole (a roll of tape seen from above) and a box split by an occluder.
HOLED = [[[[4, 4], [40, 4], [40, 36], [4, 36]], [[14, 12], [28, 12], [28, 26], [14, 26]]]]
TWO_PARTS = [[[[2.5, 3.25], [20, 3], [20, 18.5], [3, 18]]], [[[30, 20], [50.75, 20], [50, 40.5], [30.5, 40]]]]
TRIANGLE = [[[[10.5, 30], [60, 44.25], [12, 46]]]]


def add_image(
    project, user, *, seed: int, width: int = 64, height: int = 48, name: str | None = None
) -> Image:
    data = image_bytes(width, height, seed=seed, fmt="PNG")
    report = images_ingest(
        project=project, uploads=[(name or f"scene_{seed}.png", io.BytesIO(data))], user=user
    )
    assert report.created, report.as_dict()
    return report.created[0]


def accept_image(image: Image, user, annotations: list[dict[str, Any]]) -> Image:
    """``user`` saves and submits; another reviewer of the project accepts (nobody accepts their own)."""
    image = annotations_save(image=image, annotations=annotations, user=user, expected_version=image.version)
    image = image_submit(image=image, user=user, expected_version=image.version)
    reviewer = (
        Membership.objects.filter(project=image.project, role__in=[Role.REVIEWER, Role.ADMIN])
        .exclude(user=user)
        .select_related("user")
        .first()
    )
    assert reviewer is not None, "the project needs a second reviewer to accept"
    return image_review(image=image, user=reviewer.user, decision="accept")


def categories(project) -> dict[str, Any]:
    return {c.name: c for c in project.categories.all()}


def sample_project_data(project, admin) -> list[Image]:
    """Three accepted images (holes, two-part instance, several categories) and one still new."""
    cats = categories(project)
    a = accept_image(
        add_image(project, admin, seed=1),
        admin,
        [
            {"category": cats["cardboard_box"].id, "shape": HOLED},
            {"category": cats["envelope"].id, "shape": TRIANGLE},
        ],
    )
    b = accept_image(
        add_image(project, admin, seed=2, name="dock/scene_2.png"),
        admin,
        [
            {"category": cats["padded_mailer"].id, "shape": TWO_PARTS},
        ],
    )
    c = accept_image(
        add_image(project, admin, seed=3, width=80, height=60),
        admin,
        [
            {"category": cats["item"].id, "shape": [[[[0, 0], [80, 0], [80, 10], [0, 10]]]]},
            {"category": cats["cardboard_box"].id, "shape": [[[[50, 20], [79, 20], [79, 59], [50, 59]]]]},
        ],
    )
    add_image(project, admin, seed=4)  # new, not exported by default
    return [a, b, c]


def run_export(project, user, **options):
    job = export_create(project=project, user=user, **options)
    job = export_run(job_id=job.id)
    assert job.status == "succeeded", job.message
    return job


def read_export(job) -> tuple[dict[str, Any], dict[str, bytes]]:
    """(COCO dict, {zip member: bytes}) of an export file."""
    with job.file.open("rb") as fp:
        data = fp.read()
    if job.file.name.endswith(".json"):
        return json.loads(data), {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    return json.loads(members.pop("annotations.json")), members


def upload(name: str, data: bytes | str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data.encode() if isinstance(data, str) else data)


def post_import(
    client, project, coco: Any, *, images: bytes | None = None, raw: bytes | None = None, **fields
):
    payload = {"annotations": upload("coco.json", raw if raw is not None else json.dumps(coco)), **fields}
    if images is not None:
        payload["images"] = upload("images.zip", images)
    return client.post(f"/api/v1/projects/{project.id}/imports", payload, format="multipart")

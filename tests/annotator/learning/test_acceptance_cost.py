"""The acceptance panel's cost: a fixed number of queries whatever the number of images, and
12 MP photos measured on their outlines (run-length IoU), not on full-size masks."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from annotator.annotations.services import annotations_save, image_pre_label, image_review, image_submit
from annotator.learning.models import ModelVersion, Prediction
from annotator.projects.models import Image
from tests.factories import square_shape

WIDTH, HEIGHT = 4000, 3000  # a 12 MP warehouse photo


def _accepted_photo(project, users, version, n: int, shapes: int) -> None:
    image = Image(project=project, name=f"photo{n}.jpg", sha256=f"{n:064d}", width=WIDTH, height=HEIGHT)
    image.file.save(f"photo{n}.jpg", ContentFile(b"x"), save=False)
    image.save()
    category = project.categories.first().id
    squares = [square_shape(50 + 130 * (k % 25), 60 + 400 * (k // 25), 120) for k in range(shapes)]
    Prediction.objects.create(image=image, model_version=version, instances=[], uncertainty=0.3)
    assert image_pre_label(
        image=image, instances=[{"category": category, "shape": s, "source": "model"} for s in squares]
    )
    image.refresh_from_db()
    kept = [{"category": category, "shape": s, "source": "model"} for s in squares[:-1]]  # one deleted
    image = annotations_save(
        image=image, annotations=kept, user=users["annotator"], expected_version=image.version
    )
    image = image_submit(image=image, user=users["annotator"], expected_version=image.version)
    image_review(image=image, user=users["reviewer"], decision="accept", expected_version=image.version)


@pytest.mark.django_db
def test_acceptance_costs_a_fixed_number_of_queries(
    project, users, client_for, django_assert_max_num_queries
):
    version = ModelVersion.objects.create(project=project, name="v1", checkpoint="unused.pt")
    for n in range(2):
        _accepted_photo(project, users, version, n, shapes=40)
    url = f"/api/v1/projects/{project.pk}/acceptance"
    with django_assert_max_num_queries(6):
        rows = client_for("annotator").get(url).json()
    assert [(r["name"], r["images"], r["pre_labels"]) for r in rows] == [("v1", 2, 80)]
    assert rows[0]["unchanged_share"] == pytest.approx(78 / 80)
    assert rows[0]["mean_iou"] == pytest.approx(39 / 40)

    for n in range(2, 6):
        _accepted_photo(project, users, version, n, shapes=40)
    with django_assert_max_num_queries(6):  # the same queries for three times the images
        rows = client_for("annotator").get(url).json()
    assert rows[0]["images"] == 6

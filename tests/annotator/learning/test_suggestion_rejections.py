"""Rejected suggestions are remembered on the server (issue 28): stored on the image's Prediction,
returned with the suggestions, never offered again, and never a change to the annotation set."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from annotator.learning.models import Prediction, TrustGatePin
from annotator.learning.prelabels import prediction_show, project_prelabels_reapply
from annotator.learning.services import image_predict
from annotator.learning.trust import prelabel_policy
from annotator.projects.models import ImageStatus
from tests.factories import image_bytes, make_active_version, make_image, square_shape

SHAPES = [square_shape(5, 5, 30), square_shape(55, 40, 30), square_shape(42, 2, 8)]
SCORES = [0.93, 0.88, 0.21]


@pytest.fixture
def version(project):
    return make_active_version(project)


@pytest.fixture
def suggested(project, version):
    """An untouched image whose three predicted shapes the (pinned) gate offers as suggestions."""
    TrustGatePin.objects.create(project=project, mode="suggest")
    category = project.categories.get(name="cardboard_box").id
    image = make_image(project, 400)
    prediction = Prediction.objects.create(
        image=image,
        model_version=version,
        instances=[
            {"category": category, "shape": shape, "score": score, "source": "model"}
            for shape, score in zip(SHAPES, SCORES, strict=True)
        ],
    )
    prediction_show(
        image=image, prediction=prediction, policy=prelabel_policy(project=project, version=version)
    )
    image.refresh_from_db()
    return image


def snapshot(image) -> tuple:
    """Everything a rejection must leave alone: the set, the version, the status, the revisions."""
    image.refresh_from_db()
    shapes = [(a.category_id, a.shape, a.source, a.score) for a in image.annotations.order_by("id")]
    return shapes, image.version, image.status, image.revisions.count()


@pytest.mark.django_db
def test_a_rejection_is_stored_returned_and_changes_no_annotation(project, users, suggested, client_for):
    annotator = client_for("annotator")
    url = f"/api/v1/images/{suggested.pk}/suggestions"
    before = snapshot(suggested)
    assert before[0] == [] and before[2] == ImageStatus.PRE_LABELED
    assert annotator.get(url).json()["rejected"] == []

    answer = annotator.post(f"{url}/rejected", {"index": 1}, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["rejected"] == [1]
    assert [s["index"] for s in answer.json()["instances"]] == [0, 1, 2]  # still listed, marked rejected
    assert Prediction.objects.get(image=suggested).rejected == [1]
    # The next visit reads it back; rejecting again (another tab) keeps one entry.
    assert annotator.get(url).json()["rejected"] == [1]
    assert annotator.post(f"{url}/rejected", {"index": 1}, format="json").json()["rejected"] == [1]
    assert client_for("reviewer").post(f"{url}/rejected", {"index": 0}, format="json").json()["rejected"] == [
        0,
        1,
    ]
    assert snapshot(suggested) == before  # nothing a person drew, no version, no status change

    # The gate flips to pre-labels: the untouched image gets the shapes nobody rejected.
    TrustGatePin.objects.filter(project=project).update(mode="prelabel", threshold=0.1)
    assert project_prelabels_reapply(project=project) == 1
    suggested.refresh_from_db()
    assert sorted(a.score for a in suggested.annotations.all()) == [0.21]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"index": 3}, "No suggestion #3 on image"),
        ({"index": -1}, "No suggestion #-1 on image"),
        ({"index": "1"}, "index must be a whole number"),
        ({"index": 1.0}, "index must be a whole number"),
        ({"index": True}, "index must be a whole number"),
        ({"index": None}, "index must be a whole number"),
        ({}, "Send a JSON object with the index"),
    ],
)
def test_a_bad_index_is_a_400_naming_it(suggested, client_for, body, says):
    before = snapshot(suggested)
    answer = client_for("annotator").post(
        f"/api/v1/images/{suggested.pk}/suggestions/rejected", body, format="json"
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["field"] == "index" and says in error["message"], error
    assert Prediction.objects.get(image=suggested).rejected == []
    assert snapshot(suggested) == before


@pytest.mark.django_db
def test_no_prediction_is_a_404_and_outsiders_see_nothing(project, version, suggested, client_for):
    bare = make_image(project, 401)
    answer = client_for("annotator").post(
        f"/api/v1/images/{bare.pk}/suggestions/rejected", {"index": 0}, format="json"
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "no_suggestions"
    assert "has no suggestions from the active model" in answer.json()["error"]["message"]
    outsider = client_for("outsider").post(
        f"/api/v1/images/{suggested.pk}/suggestions/rejected", {"index": 0}, format="json"
    )
    assert outsider.status_code == 404
    assert Prediction.objects.get(image=suggested).rejected == []


@pytest.mark.django_db
def test_a_new_prediction_forgets_rejections_of_the_old_shapes(
    suggested, version, base_checkpoint, client_for
):
    """Re-predicting renumbers the shapes, so the old indexes would name other ones."""
    url = f"/api/v1/images/{suggested.pk}/suggestions"
    assert client_for("annotator").post(f"{url}/rejected", {"index": 2}, format="json").status_code == 200
    suggested.file.save("img400.jpg", ContentFile(image_bytes(100, 80, seed=400)), save=True)
    version.checkpoint = str(base_checkpoint)  # a real (tiny) model predicts the image again
    version.save(update_fields=["checkpoint"])

    prediction = image_predict(image=suggested, model_version=version)

    assert prediction is not None and prediction.rejected == []
    assert client_for("annotator").get(url).json()["rejected"] == []

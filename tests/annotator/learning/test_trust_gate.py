"""The trust gate (issue 28): learned from the project's reviewed images, applied to untouched images only.

Real database, real services; predictions are stored rows (the gate reads predictions, it runs no model).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotator.annotations.services import annotations_save, image_review, image_submit
from annotator.learning.acceptance import acceptance_by_version
from annotator.learning.models import ModelVersion, Prediction, TrustGate, TrustGatePin
from annotator.learning.prelabels import prediction_show, trust_gate_update
from annotator.learning.trust import prelabel_policy
from annotator.projects.models import Image, ImageStatus
from tests.annotator.datasets.coco_helpers import read_export, run_export
from tests.conftest import wait_for
from tests.factories import make_active_version, make_image, square_shape

# Two packages per 100 x 80 image, and two places where there is none.
PACKAGES = [square_shape(5, 5, 30), square_shape(55, 40, 30)]
NOTHING = [square_shape(42, 2, 8), square_shape(5, 60, 12)]


@pytest.fixture
def version(project):
    """The project's active model, with a calibrated default threshold of 0.5."""
    return make_active_version(project)


def good(category: int) -> list[dict]:
    """The packages, confidently; one stray shape, unsure."""
    return [
        {"category": category, "shape": PACKAGES[0], "score": 0.93, "source": "model"},
        {"category": category, "shape": PACKAGES[1], "score": 0.88, "source": "model"},
        {"category": category, "shape": NOTHING[0], "score": 0.21, "source": "model"},
    ]


def wrong(category: int) -> list[dict]:
    """Confident shapes where there is no package; the packages themselves missed."""
    return [
        {"category": category, "shape": NOTHING[0], "score": 0.95, "source": "model"},
        {"category": category, "shape": NOTHING[1], "score": 0.9, "source": "model"},
    ]


def review_images(project, users, version, count: int, instances, *, first: int = 0, accept=True) -> list:
    """``count`` images the version predicted, drawn by the annotator (the packages), submitted, accepted."""
    category = project.categories.get(name="cardboard_box").id
    done = []
    for n in range(first, first + count):
        image = make_image(project, n)
        Prediction.objects.create(image=image, model_version=version, instances=instances(category))
        image = annotations_save(
            image=image,
            user=users["annotator"],
            expected_version=image.version,
            annotations=[{"category": category, "shape": shape} for shape in PACKAGES],
        )
        image = image_submit(image=image, user=users["annotator"], expected_version=image.version)
        if accept:
            image = image_review(
                image=image, user=users["reviewer"], decision="accept", expected_version=image.version
            )
        done.append(image)
    return done


def pending_image(project, version, n: int, instances):
    """An image the version predicted and that nobody touched, shown as the policy says."""
    image = make_image(project, n)
    category = project.categories.get(name="cardboard_box").id
    prediction = Prediction.objects.create(image=image, model_version=version, instances=instances(category))
    prediction_show(
        image=image, prediction=prediction, policy=prelabel_policy(project=project, version=version)
    )
    image.refresh_from_db()
    return image


def current_set(image) -> list[tuple]:
    image.refresh_from_db()
    return [(a.category_id, a.shape, a.source, a.score) for a in image.annotations.order_by("id")]


@pytest.mark.django_db
def test_a_good_model_pre_labels_and_a_wrong_one_suggests(project, users, version):
    review_images(project, users, version, 20, good)
    gate = trust_gate_update(project=project)
    assert gate.mode == "prelabel" and gate.learned and gate.reviewed_images == 20
    assert 0.21 < gate.threshold <= 0.88  # the stray shape stays out, both packages are in
    assert gate.precision == 1.0 and gate.recall == 1.0
    assert gate.seconds_saved_per_image > 0
    assert "pre-labels scoring" in gate.reason

    other = ModelVersion.objects.create(
        project=project, name="warehouse-a-v2", checkpoint="unused.pt", prelabel_threshold=0.5
    )
    project.active_model = other
    project.save(update_fields=["active_model"])
    review_images(project, users, other, 20, wrong, first=100)
    wrong_gate = trust_gate_update(project=project)
    assert wrong_gate.mode == "suggest" and wrong_gate.learned and wrong_gate.reviewed_images == 20
    assert wrong_gate.recall == 0.0 and wrong_gate.seconds_saved_per_image <= 0
    assert "suggestions" in wrong_gate.reason
    # Each version keeps its own figures.
    assert TrustGate.objects.get(model_version=version).mode == "prelabel"


@pytest.mark.django_db
def test_until_twenty_images_are_reviewed_the_checkpoint_default_applies(project, users, version):
    review_images(project, users, version, 19, wrong)
    gate = trust_gate_update(project=project)
    assert (gate.mode, gate.threshold, gate.learned, gate.reviewed_images) == ("prelabel", 0.5, False, 19)
    assert "19 of 20 reviewed images" in gate.reason

    uncalibrated = ModelVersion.objects.create(
        project=project, name="v-uncal", checkpoint="unused.pt", prelabel_threshold=0.0
    )
    project.active_model = uncalibrated
    project.save(update_fields=["active_model"])
    assert trust_gate_update(project=project).mode == "suggest"  # no calibrated default to trust


@pytest.mark.django_db
def test_nothing_a_person_drew_changes_when_the_gate_flips(project, users, version):
    category = project.categories.get(name="cardboard_box").id
    review_images(project, users, version, 19, wrong)
    trust_gate_update(project=project)  # 19 reviews: the default threshold, pre-labels

    untouched = pending_image(project, version, 200, wrong)
    assert [a[2] for a in current_set(untouched)] == ["model", "model"]
    # A person keeps one pre-label as it is, and draws a package.
    worked = pending_image(project, version, 201, wrong)
    kept = worked.annotations.order_by("-score").first()
    worked = annotations_save(
        image=worked,
        user=users["annotator"],
        expected_version=worked.version,
        annotations=[
            {"category": category, "shape": kept.shape, "source": "model", "score": kept.score},
            {"category": category, "shape": PACKAGES[0]},
        ],
    )
    submitted = pending_image(project, version, 202, wrong)
    submitted = image_submit(image=submitted, user=users["annotator"], expected_version=submitted.version)
    # Someone has the last one open, untouched: it stays as they see it (no conflict on their first save).
    held = pending_image(project, version, 203, wrong)
    Image.objects.filter(pk=held.pk).update(
        lease_user=users["annotator"], lease_expires_at=timezone.now() + timedelta(minutes=10)
    )
    before = {img.pk: (current_set(img), img.version, img.status) for img in (worked, submitted, held)}

    review_images(project, users, version, 1, wrong, first=19)
    gate = trust_gate_update(project=project)

    assert gate.mode == "suggest"
    for img in (worked, submitted, held):
        img.refresh_from_db()
        assert (current_set(img), img.version, img.status) == before[img.pk]
    # The untouched image's pre-labels became suggestions: out of the set, still in the prediction.
    assert current_set(untouched) == [] and untouched.status == ImageStatus.PRE_LABELED
    prediction = Prediction.objects.get(image=untouched)
    assert prediction.shown_as == "suggest" and len(prediction.instances) == 2
    # Accepted images keep the set their reviewer accepted.
    accepted = project.images.filter(status=ImageStatus.ACCEPTED)
    assert accepted.count() == 20
    assert all(len(current_set(img)) == 2 for img in accepted)


@pytest.mark.django_db
def test_suggestions_are_never_exported_unless_accepted(project, users, version, client_for):
    category = project.categories.get(name="cardboard_box").id
    assert (
        client_for("admin")
        .patch(f"/api/v1/projects/{project.pk}/trust-gate", {"pinned_mode": "suggest"}, format="json")
        .status_code
        == 200
    )
    image = pending_image(project, version, 300, good)
    assert current_set(image) == []  # three suggestions, none in the set
    suggestions = client_for("annotator").get(f"/api/v1/images/{image.pk}/suggestions").json()
    assert suggestions["mode"] == "suggest" and [s["score"] for s in suggestions["instances"]] == [
        0.93,
        0.88,
        0.21,
    ]
    # The annotator takes the best suggestion (as the annotate view sends it) and draws the other package.
    taken = suggestions["instances"][0]
    image = annotations_save(
        image=image,
        user=users["annotator"],
        expected_version=image.version,
        annotations=[
            {
                "category": taken["category"],
                "shape": taken["shape"],
                "source": "model",
                "score": taken["score"],
            },
            {"category": category, "shape": PACKAGES[1]},
        ],
    )
    image = image_submit(image=image, user=users["annotator"], expected_version=image.version)
    image_review(image=image, user=users["reviewer"], decision="accept", expected_version=image.version)
    ignored = pending_image(project, version, 301, good)  # suggestions nobody took, never accepted

    coco, _ = read_export(run_export(project, users["reviewer"], include_images=False))
    assert [img["id"] for img in coco["images"]] == [image.pk]
    assert len(coco["annotations"]) == 2
    stray = coco_bbox(NOTHING[0])
    assert all(ann["bbox"] != stray for ann in coco["annotations"])
    everything = read_export(
        run_export(project, users["reviewer"], include_images=False, statuses=list(ImageStatus.values))
    )[0]
    assert {a["image_id"] for a in everything["annotations"]} == {image.pk}  # `ignored` exports no shape
    assert ignored.pk in {img["id"] for img in everything["images"]}


def coco_bbox(shape) -> list[float]:
    from ml import geometry

    return geometry.shape_bbox(shape)


@pytest.mark.django_db
def test_the_trust_gate_api_shape_and_pins(project, users, version, client_for):
    review_images(project, users, version, 20, good)
    trust_gate_update(project=project)
    url = f"/api/v1/projects/{project.pk}/trust-gate"

    body = client_for("annotator").get(url).json()
    active = body["active"]
    assert set(active) == {
        "model_version",
        "mode",
        "threshold",
        "precision",
        "recall",
        "seconds_saved_per_image",
        "reviewed_images",
        "reason",
        "learned",
        "curve",
        "computed_at",
        "applied",
    }
    assert active["model_version"] == {"id": version.id, "name": "warehouse-a-v1", "status": "promoted"}
    assert active["mode"] == "prelabel" and active["reviewed_images"] == 20 and active["learned"] is True
    assert active["applied"] == {"mode": "prelabel", "threshold": active["threshold"], "pinned": False}
    assert len(active["curve"]) == 20 and set(active["curve"][0]) == {
        "threshold",
        "precision",
        "recall",
        "prelabel_seconds_saved",
        "suggest_seconds_saved",
    }
    assert [v["model_version"]["id"] for v in body["versions"]] == [version.id]
    assert body["pin"] == {"mode": None, "threshold": None, "changed_by": None, "changed_at": None}
    assert body["min_reviewed"] == 20

    assert client_for("reviewer").patch(url, {"pinned_mode": "suggest"}, format="json").status_code == 403
    assert client_for("outsider").get(url).status_code == 404
    pinned = client_for("admin").patch(
        url, {"pinned_mode": "suggest", "pinned_threshold": 0.7}, format="json"
    )
    assert pinned.status_code == 200, pinned.json()
    assert pinned.json()["active"]["applied"] == {"mode": "suggest", "threshold": 0.7, "pinned": True}
    assert pinned.json()["active"]["mode"] == "prelabel"  # what the gate learned stays visible
    assert pinned.json()["pin"]["mode"] == "suggest" and pinned.json()["pin"]["changed_by"] == "alice_admin"
    unpinned = client_for("admin").patch(url, {"pinned_mode": None}, format="json").json()
    assert unpinned["active"]["applied"] == {"mode": "prelabel", "threshold": 0.7, "pinned": True}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"pinned_mode": "always"}, "pinned_mode", "Unknown mode"),
        ({"pinned_mode": 3}, "pinned_mode", "pinned_mode must be"),
        ({"pinned_threshold": 1.5}, "pinned_threshold", "between 0 and 1"),
        ({"pinned_threshold": "high"}, "pinned_threshold", "between 0 and 1"),
        ({"pinned_threshold": True}, "pinned_threshold", "between 0 and 1"),
        ({"threshold": 0.5}, "threshold", "Unknown trust gate setting"),
        ({}, None, "Nothing to change"),
        ([1, 2], None, "JSON object"),
    ],
)
def test_bad_pins_get_a_400_naming_the_problem_and_change_nothing(
    project, version, client_for, body, field, says
):
    url = f"/api/v1/projects/{project.pk}/trust-gate"
    client_for("admin").patch(url, {"pinned_threshold": 0.4}, format="json")
    response = client_for("admin").patch(url, body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == field and says in error["message"]
    assert client_for("admin").get(url).json()["pin"]["threshold"] == 0.4


@pytest.mark.django_db
def test_suggestions_of_an_image_without_a_prediction(project, version, client_for):
    image = make_image(project, 400)
    body = client_for("annotator").get(f"/api/v1/images/{image.pk}/suggestions").json()
    assert body == {
        "model_version": {"id": version.id, "name": "warehouse-a-v1"},
        "mode": "prelabel",
        "threshold": 0.5,
        "pinned": False,
        "instances": [],
        "rejected": [],
    }
    assert client_for("outsider").get(f"/api/v1/images/{image.pk}/suggestions").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_review_through_the_api_relearns_the_gate_on_the_worker(project, users, client_for, celery_worker):
    version = make_active_version(project)
    review_images(project, users, version, 19, wrong)
    untouched = pending_image(project, version, 500, wrong)
    assert len(current_set(untouched)) == 2  # the checkpoint's default: pre-labels
    image = review_images(project, users, version, 1, wrong, first=19, accept=False)[0]
    assert not TrustGate.objects.filter(mode="suggest").exists()
    # The 20th image is accepted by the reviewer through the API, as the review view does.
    reviewed = client_for("reviewer").post(f"/api/v1/images/{image.pk}/review", {"decision": "accept"})
    assert reviewed.status_code == 200, reviewed.json()

    wait_for(
        lambda: (
            TrustGate.objects.filter(model_version=version, mode="suggest").exists()
            and not current_set(untouched)
        ),
        timeout=120,
        what=f"the worker to relearn the gate\n{celery_worker.log()[-3000:]}",
    )
    gate = TrustGate.objects.get(model_version=version)
    assert gate.reviewed_images == 20 and gate.learned
    assert Prediction.objects.get(image=untouched).shown_as == "suggest"


@pytest.mark.django_db
def test_the_acceptance_metric_keeps_pre_labels_and_leaves_suggestion_images_out(project, users, version):
    pre_labelled = pending_image(project, version, 600, good)  # default 0.5: the two packages as pre-labels
    assert [a[2:] for a in current_set(pre_labelled)] == [("model", 0.93), ("model", 0.88)]
    image = image_submit(image=pre_labelled, user=users["annotator"], expected_version=pre_labelled.version)
    image_review(image=image, user=users["reviewer"], decision="accept", expected_version=image.version)
    TrustGatePin.objects.create(project=project, mode="suggest")
    suggested = pending_image(project, version, 601, good)
    taken = Prediction.objects.get(image=suggested).instances[0]
    image = annotations_save(
        image=suggested,
        user=users["annotator"],
        expected_version=suggested.version,
        annotations=[{**taken, "source": "model"}],
    )
    image = image_submit(image=image, user=users["annotator"], expected_version=image.version)
    image_review(image=image, user=users["reviewer"], decision="accept", expected_version=image.version)

    (row,) = acceptance_by_version(project=project)
    assert (row["model_version"], row["images"], row["pre_labels"], row["unchanged_share"]) == (
        version.pk,
        1,
        2,
        1.0,
    )
    assert current_set(suggested) == [(taken["category"], taken["shape"], "model", 0.93)]  # still the model's

"""The shipped base checkpoint in the app: its calibrated pre-label threshold, and a new file replacing it.

The checkpoints are copies of the real ``ml/checkpoints/universal_base.pt`` with their metadata
set the way ``ml.universal.calibration`` writes it; the images are the demo's synthetic scenes.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from PIL import Image as PILImage

from annotator.annotations.models import Revision
from annotator.annotations.services import annotations_save, image_pre_label
from annotator.jobs.models import BatchJob, JobStatus
from annotator.learning.models import ModelVersion, Prediction
from annotator.learning.runs import run_version_ready
from annotator.learning.services import base_model_version, image_predict
from annotator.learning.tasks import check_retraining
from annotator.projects.ingest import image_split_for
from annotator.projects.models import Image, ImageStatus
from ml.universal.checkpoint import load_checkpoint, save_checkpoint
from tests.annotator.learning.scenes import square, tiny_checkpoint
from tests.conftest import ROOT, wait_for
from tests.factories import make_project

SHIPPED = ROOT / "ml" / "checkpoints" / "universal_base.pt"


def ship(path: Path, *, threshold: float | None) -> Path:
    """Write the shipped model to ``path`` with ``default_threshold`` set (None: an uncalibrated checkpoint)."""
    model, meta = load_checkpoint(SHIPPED)
    meta.pop("default_threshold", None)
    if threshold is not None:
        meta["default_threshold"] = threshold
    return save_checkpoint(path, model, meta)


@pytest.fixture
def shipped_path(tmp_path, settings, monkeypatch) -> Path:
    """Where the app looks for the shipped base (a worker started later sees it through the env)."""
    path = tmp_path / "checkpoints" / "universal_base.pt"
    settings.ANNOTATOR = {**settings.ANNOTATOR, "UNIVERSAL_CHECKPOINT": str(path)}
    monkeypatch.setenv("UNIVERSAL_CHECKPOINT", str(path))
    return path


def add_demo_images(project, indices) -> list[Image]:
    """The demo's synthetic scenes (``manage.py demo``: domain by index, seed 1000 + index), stored as uploads."""
    from ml.synth import DOMAINS, generate_scene

    created = []
    for i in indices:
        domain = sorted(DOMAINS)[i % len(DOMAINS)]
        pixels = generate_scene(domain, seed=1000 + i, size=(480, 640)).image
        buf = io.BytesIO()
        PILImage.fromarray(pixels).save(buf, "JPEG", quality=90)
        data = buf.getvalue()
        sha = hashlib.sha256(data).hexdigest()
        image = Image(
            project=project,
            name=f"{domain}_{i:02d}.jpg",
            sha256=sha,
            file_ext="jpg",
            width=pixels.shape[1],
            height=pixels.shape[0],
            split=image_split_for(sha256=sha),
        )
        image.file.save(f"{sha}.jpg", ContentFile(data), save=False)
        image.save()
        created.append(image)
    return created


def splitting_threshold(scores: list[float]) -> float:
    """A threshold in the widest gap between the scores: some shapes above it, some below."""
    ranked = sorted(set(scores), reverse=True)
    assert len(ranked) >= 2, f"the shipped model must find shapes of different scores here, got {scores}"
    gap, upper = max((ranked[k] - ranked[k + 1], ranked[k]) for k in range(len(ranked) - 1))
    return round(upper - gap / 2, 4)


def annotation_scores(image: Image) -> list[float]:
    return sorted(image.annotations.values_list("score", flat=True))


# --------------------------------------------------------------------------- the threshold on versions


@pytest.mark.django_db
def test_the_base_version_stores_the_threshold_its_checkpoint_chose(project, client_for, shipped_path):
    ship(shipped_path, threshold=0.62)

    base = base_model_version()

    assert base.prelabel_threshold == pytest.approx(0.62)
    assert base.checkpoint_sha256 == hashlib.sha256(shipped_path.read_bytes()).hexdigest()
    assert Path(base.checkpoint).read_bytes() == shipped_path.read_bytes()  # its own copy of the file
    listed = client_for("annotator").get(f"/api/v1/projects/{project.pk}/model-versions").json()
    assert listed["base"]["name"] == base.name and listed["base"]["prelabel_threshold"] == pytest.approx(0.62)
    assert listed["active"]["prelabel_threshold"] == pytest.approx(0.62)  # the project follows the base


@pytest.mark.django_db
def test_an_uncalibrated_base_pre_labels_every_shape(shipped_path):
    ship(shipped_path, threshold=None)
    assert base_model_version().prelabel_threshold == 0.0


@pytest.mark.django_db
def test_a_trained_version_takes_the_threshold_of_its_own_checkpoint(
    project, client_for, shipped_path, tmp_path
):
    ship(shipped_path, threshold=0.62)
    trained = ModelVersion.objects.create(
        project=project,
        parent=base_model_version(),
        name="warehouse-a-v1",
        status=ModelVersion.Status.TRAINING,
        checkpoint="",
    )
    # What the training loop writes today: grouping carried over, no score calibration.
    run_version_ready(
        version=trained, checkpoint=str(tiny_checkpoint(tmp_path / "v1.pt")), metrics={"mask_ap": 0.1}
    )
    calibrated = ModelVersion.objects.create(
        project=project, name="warehouse-a-v2", checkpoint="", status=ModelVersion.Status.TRAINING
    )
    run_version_ready(version=calibrated, checkpoint=str(ship(tmp_path / "v2.pt", threshold=0.4)), metrics={})

    listed = client_for("annotator").get(f"/api/v1/projects/{project.pk}/model-versions").json()["versions"]
    assert {v["name"]: v["prelabel_threshold"] for v in listed} == {
        "warehouse-a-v1": 0.0,
        "warehouse-a-v2": pytest.approx(0.4),
    }


@pytest.mark.django_db
def test_the_admin_lists_the_threshold_of_each_version(client, shipped_path):
    ship(shipped_path, threshold=0.62)
    base = base_model_version()
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests"))

    page = client.get("/admin/learning/modelversion/").content.decode()

    assert "Pre-label threshold</a>" in page and base.name in page
    assert '<td class="field-prelabel_threshold">0.62</td>' in page


# --------------------------------------------------------------------------- pre-labels and the threshold


@pytest.mark.django_db
def test_pre_labels_keep_the_shapes_at_or_above_the_threshold_and_the_prediction_keeps_all(
    project,
    shipped_path,
):
    ship(shipped_path, threshold=None)  # uncalibrated: the trust gate offers every shape as a suggestion
    image = add_demo_images(project, [0])[0]
    first = image_predict(image=image)
    scores = [inst["score"] for inst in first.instances]
    image.refresh_from_db()
    assert image.status == ImageStatus.PRE_LABELED and annotation_scores(image) == []
    assert Prediction.objects.get(pk=first.pk).shown_as == "suggest" and scores  # kept in the prediction

    # The same weights shipped with a threshold exactly at one of the shapes' scores.
    threshold = min(s for s in scores if s >= splitting_threshold(scores))
    ship(shipped_path, threshold=threshold)
    prediction = image_predict(image=image)  # what the re-score task does for this untouched image

    assert prediction.model_version.prelabel_threshold == pytest.approx(threshold)
    assert sorted(inst["score"] for inst in prediction.instances) == sorted(scores)  # nothing lost
    kept = sorted(s for s in scores if s >= threshold)
    assert 0 < len(kept) < len(scores)
    image.refresh_from_db()
    assert annotation_scores(image) == kept  # the shape scoring exactly the threshold included
    assert image.status == ImageStatus.PRE_LABELED
    assert image.predicted_instances == len(scores)


# --------------------------------------------------------------------------- a new shipped file


@pytest.fixture
def worker_on_shipped_base(request, shipped_path):
    """A real worker started after the first shipped file is in place (it reads the path from the env)."""
    ship(shipped_path, threshold=None)
    return request.getfixturevalue("celery_worker")


@pytest.mark.django_db(transaction=True)
def test_a_new_shipped_file_becomes_the_base_and_re_pre_labels_only_untouched_images(
    project,
    users,
    client_for,
    shipped_path,
    worker_on_shipped_base,
    tmp_path,
):
    untouched, touched = add_demo_images(project, [0, 1])
    old_base = base_model_version()
    for image in (untouched, touched):
        image_predict(image=image)
    before = [
        inst["score"] for inst in Prediction.objects.get(image=untouched, model_version=old_base).instances
    ]
    untouched.refresh_from_db()
    # The uncalibrated base has no threshold to trust: the trust gate offers every shape as a suggestion.
    assert annotation_scores(untouched) == [] and before
    # A person works on the other image: takes two of the model's suggestions and draws one.
    touched.refresh_from_db()
    category = project.categories.get(name="cardboard_box")
    suggested = Prediction.objects.get(image=touched, model_version=old_base).instances
    drawn = [
        {"category": i["category"], "shape": i["shape"], "source": "model", "score": i["score"]}
        for i in sorted(suggested, key=lambda i: -i["score"])[:2]
    ]
    drawn.append({"category": category.id, "shape": square(10, 10, 60)})
    touched = annotations_save(
        image=touched, user=users["annotator"], expected_version=touched.version, annotations=drawn
    )
    touched_set = sorted((a.category_id, str(a.shape)) for a in touched.annotations.all())
    # Another project uses a model of its own: a new base does not touch it.
    own = make_project(admin=users["admin"], name="Warehouse B")
    own.active_model = ModelVersion.objects.create(
        project=own,
        name="warehouse-b-v1",
        status=ModelVersion.Status.PROMOTED,
        checkpoint=str(tiny_checkpoint(tmp_path / "b.pt")),
    )
    own.save(update_fields=["active_model"])
    elsewhere = add_demo_images(own, [2])[0]
    image_pre_label(
        image=elsewhere, instances=[{"category": own.categories.first().id, "shape": square(5, 5, 40)}]
    )

    # The lead replaces the file in place with the calibrated base; beat's periodic check notices it.
    threshold = splitting_threshold(before)
    ship(shipped_path, threshold=threshold)
    check_retraining()

    new_base = base_model_version()
    assert new_base.pk != old_base.pk and new_base.status == ModelVersion.Status.PROMOTED
    assert new_base.prelabel_threshold == pytest.approx(threshold) and new_base.name == "universal-base-v2"
    old_base.refresh_from_db()
    assert old_base.status == ModelVersion.Status.ARCHIVED
    assert Path(old_base.checkpoint).read_bytes() != shipped_path.read_bytes()  # the old version's file stays
    job = BatchJob.objects.get(project=project, kind=BatchJob.Kind.RESCORE)
    assert job.total == 2

    def rescored():
        job.refresh_from_db()
        return job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    wait_for(rescored, timeout=300, what=f"the re-score job\n{worker_on_shipped_base.log()[-3000:]}")
    assert job.status == JobStatus.SUCCEEDED, job.message

    untouched.refresh_from_db()
    after = Prediction.objects.get(image=untouched, model_version=new_base).instances
    assert sorted(i["score"] for i in after) == sorted(before)  # same weights: the same shapes, all kept
    assert annotation_scores(untouched) == sorted(s for s in before if s >= threshold)
    assert 0 < len(annotation_scores(untouched)) < len(before)
    assert untouched.status == ImageStatus.PRE_LABELED
    assert untouched.revisions.filter(action=Revision.Action.PRE_LABEL).count() == 2

    touched.refresh_from_db()
    assert Prediction.objects.filter(image=touched, model_version=new_base).exists()  # re-scored, ...
    assert touched.status == ImageStatus.IN_PROGRESS  # ... but the person's work is as they left it
    assert sorted((a.category_id, str(a.shape)) for a in touched.annotations.all()) == touched_set
    assert not BatchJob.objects.filter(project=own, kind=BatchJob.Kind.RESCORE).exists()
    assert elsewhere.annotations.count() == 1

    registry = client_for("annotator").get(f"/api/v1/projects/{project.pk}/model-versions").json()
    assert registry["base"]["name"] == "universal-base-v2"
    assert registry["base"]["prelabel_threshold"] == pytest.approx(threshold)
    check_retraining()  # the same file again: nothing new
    assert ModelVersion.objects.filter(project__isnull=True).count() == 2

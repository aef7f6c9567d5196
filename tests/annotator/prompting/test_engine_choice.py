"""The click tool says which engine runs and why; SAM asked for without a checkpoint falls back
to the offline engine (named as such) instead of failing."""

import pytest

from annotator.projects.models import Image
from annotator.prompting.services import embedding_ensure
from tests.annotator.prompting.test_segment import segment, upload_scene


def engine_of(client, project):
    response = client.get(f"/api/v1/projects/{project.id}/prompt-engine")
    assert response.status_code == 200, response.json()
    return response.json()


@pytest.mark.django_db
def test_without_a_checkpoint_the_offline_engine_runs_and_says_why(project, client_for, settings):
    settings.ANNOTATOR = {**settings.ANNOTATOR, "SAM_CHECKPOINT": "", "PROMPT_ENGINE": "default"}
    assert engine_of(client_for("annotator"), project) == {
        "engine": "offline",
        "label": "Offline engine",
        "reason": "no SAM checkpoint configured (SAM_CHECKPOINT)",
    }
    assert client_for("outsider").get(f"/api/v1/projects/{project.id}/prompt-engine").status_code == 404


@pytest.mark.django_db
def test_a_project_asking_for_sam_without_weights_gets_the_offline_engine(project, client_for, settings):
    settings.ANNOTATOR = {**settings.ANNOTATOR, "SAM_CHECKPOINT": "", "PROMPT_ENGINE": "default"}
    project.prompt_engine = "sam"
    project.save()
    client = client_for("annotator")
    assert engine_of(client, project) == {
        "engine": "offline",
        "label": "Offline engine",
        "reason": "the project's setting asks for SAM, but no SAM checkpoint configured (SAM_CHECKPOINT)",
    }
    image_id = upload_scene(client, project)
    embedding_ensure(image=Image.objects.get(pk=image_id))
    done = segment(client, image_id, points=[[65, 45]], labels=[1])
    assert done.status_code == 200 and done.json()["engine"].startswith("offline-watershed")


@pytest.mark.django_db
def test_sam_with_a_checkpoint_and_grabcut_by_choice(project, client_for, settings, tmp_path):
    checkpoint = tmp_path / "sam_vit_b.pth"
    checkpoint.write_bytes(b"weights")
    settings.ANNOTATOR = {**settings.ANNOTATOR, "SAM_CHECKPOINT": str(checkpoint), "SAM_MODEL_TYPE": "vit_b"}
    client = client_for("annotator")
    assert engine_of(client, project) == {
        "engine": "sam",
        "label": "SAM (vit_b)",
        "reason": "a SAM checkpoint is configured (sam_vit_b.pth)",
    }
    project.prompt_engine = "grabcut"
    project.save()
    assert engine_of(client, project) == {
        "engine": "grabcut",
        "label": "GrabCut",
        "reason": "chosen by the project's setting",
    }
    settings.ANNOTATOR = {**settings.ANNOTATOR, "SAM_CHECKPOINT": str(tmp_path / "gone.pth")}
    project.prompt_engine = "default"
    project.save()
    assert engine_of(client, project)["reason"] == (
        f"the SAM checkpoint {tmp_path / 'gone.pth'} is missing (SAM_CHECKPOINT)"
    )

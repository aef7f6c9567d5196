"""The admin's training side: the 'start a training run' action and the editable beat schedule."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from annotator.jobs.schedule import periodic_task_ensure
from annotator.learning.models import TrainingRun
from tests.annotator.learning.conftest import accept, add_images


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests")
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_admin_action_starts_one_run_and_reports_a_second(staff_client, project, users, base_checkpoint):
    images = add_images(project, 22)
    accept(images[21], users)
    accept(images[0], users)  # and one of the val split
    listing = staff_client.get("/admin/learning/projecttraining/")
    assert listing.status_code == 200 and project.name in listing.content.decode()
    action = {"action": "start_training_run", "_selected_action": [project.pk]}
    staff_client.post("/admin/learning/projecttraining/", action)
    again = staff_client.post("/admin/learning/projecttraining/", action, follow=True)
    assert "one run per project at a time" in again.content.decode()
    assert TrainingRun.objects.filter(project=project).count() == 1


@pytest.mark.django_db
def test_the_retraining_schedule_is_editable_in_the_admin(staff_client):
    task = periodic_task_ensure(key="retraining")
    page = staff_client.get(f"/admin/django_celery_beat/periodictask/{task.pk}/change/")
    assert page.status_code == 200 and "check_retraining" in page.content.decode()


@pytest.mark.django_db
def test_periodic_tasks_command_sets_the_interval_of_the_named_check():
    from io import StringIO

    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    out = StringIO()
    call_command("periodic_tasks", "retraining", "--every", "120", stdout=out)
    task = PeriodicTask.objects.get(task="annotator.learning.tasks.check_retraining")
    assert task.interval.every == 120 and "every 120 seconds" in out.getvalue()
    assert not PeriodicTask.objects.filter(task="annotator.universal.tasks.check_base_retraining").exists()

    call_command("periodic_tasks", stdout=out)  # all of them; the retraining check keeps its interval
    assert PeriodicTask.objects.get(task="annotator.learning.tasks.check_retraining").interval.every == 120
    base = PeriodicTask.objects.get(task="annotator.universal.tasks.check_base_retraining")
    assert base.interval.every == 6 * 60 * 60 and base.enabled


@pytest.mark.django_db
def test_the_admin_promotes_a_worse_version_only_through_the_confirming_action(
    staff_client, project, base_checkpoint, tmp_path
):
    from annotator.learning.models import ModelVersion
    from tests.annotator.learning.scenes import tiny_checkpoint

    active = ModelVersion.objects.create(
        project=project,
        name="warehouse-a-v1",
        checkpoint=str(tiny_checkpoint(tmp_path / "v1.pt", seed=1)),
        status=ModelVersion.Status.PROMOTED,
        metrics={"mask_ap": 0.5, "val": {"images": 4}},
    )
    project.active_model = active
    project.save()
    worse = ModelVersion.objects.create(
        project=project,
        name="warehouse-a-v2",
        checkpoint=active.checkpoint,
        status=ModelVersion.Status.READY,
        metrics={"mask_ap": 0.25, "val": {"images": 4}},
    )
    url = "/admin/learning/modelversion/"
    page = staff_client.post(url, {"action": "promote", "_selected_action": [worse.pk]}, follow=True)
    assert "warehouse-a-v2 has mask AP 0.250 on 4 val images; warehouse-a-v1 has mask AP 0.500" in (
        page.content.decode()
    )
    project.refresh_from_db()
    assert project.active_model_id == active.pk
    staff_client.post(url, {"action": "promote_although_worse", "_selected_action": [worse.pk]})
    project.refresh_from_db()
    assert project.active_model_id == worse.pk

"""Install the periodic retraining check (every 10 minutes; edit it in the admin)."""

from django.db import migrations

NAME = "learning: start training runs where enough images were accepted"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=NAME).exists():
        return
    interval, _ = IntervalSchedule.objects.get_or_create(every=600, period="seconds")
    PeriodicTask.objects.create(
        name=NAME, task="annotator.learning.tasks.check_retraining", interval=interval,
        description="Starts a training run in every project with at least retrain_threshold images "
                    "accepted since its last run.",
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("learning", "0003_training_lock"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]

"""The periodic retraining check as a django-celery-beat PeriodicTask (its interval is edited in the admin)."""

from __future__ import annotations

from django_celery_beat.models import IntervalSchedule, PeriodicTask

RETRAIN_CHECK_NAME = "learning: start training runs where enough images were accepted"
RETRAIN_CHECK_TASK = "annotator.learning.tasks.check_retraining"
DEFAULT_EVERY_MINUTES = 10


def retrain_schedule_ensure(*, every_seconds: int | None = None) -> PeriodicTask:
    """Create the periodic check if missing; an interval given here replaces the current one."""
    task = PeriodicTask.objects.filter(name=RETRAIN_CHECK_NAME).first()
    if task is not None and every_seconds is None:
        return task
    seconds = every_seconds or DEFAULT_EVERY_MINUTES * 60
    interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
    if task is None:
        return PeriodicTask.objects.create(
            name=RETRAIN_CHECK_NAME,
            task=RETRAIN_CHECK_TASK,
            interval=interval,
            description="Starts a training run in every project with at least "
            "retrain_threshold images accepted since its last run.",
        )
    task.interval, task.enabled = interval, True
    task.save()
    return task

"""The periodic base-retraining check as a django-celery-beat PeriodicTask (interval editable in the admin)."""

from __future__ import annotations

from django_celery_beat.models import IntervalSchedule, PeriodicTask

from .conf import universal_setting

BASE_CHECK_NAME = "universal: retrain the base once enough contributed data arrived"
BASE_CHECK_TASK = "annotator.universal.tasks.check_base_retraining"


def base_schedule_ensure(*, every_seconds: int | None = None) -> PeriodicTask:
    """Create the periodic check if missing; an interval given here replaces the current one."""
    task = PeriodicTask.objects.filter(name=BASE_CHECK_NAME).first()
    if task is not None and every_seconds is None:
        return task
    seconds = int(every_seconds or universal_setting("SCHEDULE_SECONDS"))
    interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
    if task is None:
        return PeriodicTask.objects.create(
            name=BASE_CHECK_NAME,
            task=BASE_CHECK_TASK,
            interval=interval,
            queue="default",
            description="Starts a base run when UNIVERSAL_NEW_IMAGES_THRESHOLD contributed images were "
            "accepted since the last base run.",
        )
    task.interval, task.enabled = interval, True
    task.save()
    return task

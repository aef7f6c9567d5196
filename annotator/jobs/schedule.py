"""The periodic checks celery beat runs, as django-celery-beat PeriodicTasks (intervals editable in the admin).

Each app registers its checks in ``AppConfig.ready()`` (``periodic_task_register``); one
function creates or re-times them and one command (``manage.py periodic_tasks``) calls it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django_celery_beat.models import IntervalSchedule, PeriodicTask


@dataclass(frozen=True)
class PeriodicCheck:
    name: str  # the PeriodicTask's unique name, as the admin shows it
    task: str  # the Celery task's dotted name
    default_seconds: Callable[[], int]  # the interval a new task gets (read when it is created)
    description: str


PERIODIC_CHECKS: dict[str, PeriodicCheck] = {}


def periodic_task_register(
    *, key: str, name: str, task: str, default_seconds: Callable[[], int], description: str
) -> None:
    """Declare a periodic check under ``key`` (e.g. ``"retraining"``); called from ``AppConfig.ready()``."""
    PERIODIC_CHECKS[key] = PeriodicCheck(name, task, default_seconds, description)


def periodic_task_ensure(*, key: str, every_seconds: int | None = None) -> PeriodicTask:
    """Create the check's PeriodicTask if missing; an interval given here replaces the current one."""
    check = PERIODIC_CHECKS[key]
    task = PeriodicTask.objects.filter(name=check.name).first()
    if task is not None and every_seconds is None:
        return task
    seconds = int(every_seconds or check.default_seconds())
    interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
    if task is None:
        return PeriodicTask.objects.create(
            name=check.name, task=check.task, interval=interval, description=check.description
        )
    task.interval, task.enabled = interval, True
    task.save()
    return task

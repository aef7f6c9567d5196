"""The one Celery app. Configuration comes from Django settings under the CELERY_ namespace."""

import os
from pathlib import Path

from celery import Celery
from celery.signals import before_task_publish, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings.dev")

app = Celery("annotator")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_folders_ready: set[str] = set()


@worker_init.connect
def _folders_for_worker(**_: object) -> None:
    ensure_broker_folders()


@before_task_publish.connect
def _folders_for_publisher(**_: object) -> None:
    # A web process may publish before any worker has started; the filesystem transport
    # fails on missing folders, so create them once per process (and per configuration).
    ensure_broker_folders()


def ensure_broker_folders() -> None:
    """The filesystem transport needs its folders to exist before anyone publishes or consumes."""
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        folder = app.conf.broker_transport_options.get(key)
        if folder and folder not in _folders_ready:
            Path(folder).mkdir(parents=True, exist_ok=True)
            _folders_ready.add(folder)

"""SIGKILL a real Celery worker in the middle of one call of the real code path, then restart it.

"Long" is made deterministic by a ``sitecustomize`` put on the worker's PYTHONPATH: it wraps one
function of the real code path so that its first call (in any worker) sleeps; the redelivered
attempt runs at full speed. Marker files tell the test when the slowed call was entered. The
worker gets short stale-job and visibility timeouts, so a redelivery (Redis) or the reaper
(any broker) follows within seconds. Used by ``test_worker_kill`` and the base-run kill test.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import wait_for

VISIBILITY_SECONDS = 6
STALE_SECONDS = 2
SLOW_SECONDS = 120

SITECUSTOMIZE = textwrap.dedent("""
    import os

    _spec = os.environ.get("RELIABILITY_SLOW_CALL")
    if _spec:
        from celery.signals import worker_init

        @worker_init.connect
        def _slow_down(**_):
            import functools, importlib, time
            import json

            import django
            from celery import current_app
            django.setup()
            # kombu's Redis transport scans for unacked messages only every 10th 10 s tick;
            # scan every second so the test waits for the visibility timeout, not for the throttle.
            extra = json.loads(os.environ.get("RELIABILITY_TRANSPORT_OPTIONS", "{}"))
            if extra and not current_app.conf.broker_url.startswith("filesystem"):
                current_app.conf.broker_transport_options = {**current_app.conf.broker_transport_options, **extra}
            target, seconds, markers = _spec.split("|")
            module_name, attr = target.split(":")
            owner = importlib.import_module(module_name)
            *path, name = attr.split(".")
            for part in path:
                owner = getattr(owner, part)
            original = getattr(owner, name)

            @functools.wraps(original)
            def slowed(*args, **kwargs):
                open(os.path.join(markers, "entered-%d-%f" % (os.getpid(), time.time())), "w").close()
                first = os.path.join(markers, "slowed-once")
                if not os.path.exists(first):
                    open(first, "w").close()
                    time.sleep(float(seconds))
                return original(*args, **kwargs)

            setattr(owner, name, slowed)
""")


def on_redis() -> bool:
    return settings.CELERY_BROKER_URL.startswith("redis")


@pytest.fixture
def slowed(request, tmp_path, monkeypatch):
    """Env for the worker started next: slow ``target`` once, short stale/visibility timeouts."""
    target = request.param
    hook = tmp_path / "hook"
    markers = tmp_path / "markers"
    hook.mkdir()
    markers.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    monkeypatch.setenv("PYTHONPATH", f"{hook}:{settings.BASE_DIR}")
    monkeypatch.setenv("RELIABILITY_SLOW_CALL", f"{target}|{SLOW_SECONDS}|{markers}")
    monkeypatch.setenv("ANNOTATOR_STALE_JOB_SECONDS", str(STALE_SECONDS))
    monkeypatch.setenv("CELERY_VISIBILITY_TIMEOUT", str(VISIBILITY_SECONDS))
    monkeypatch.setenv(
        "RELIABILITY_TRANSPORT_OPTIONS", '{"unacked_restore_interval": 1, "unacked_restore_throttle": 1}'
    )
    return markers


def entered(markers: Path) -> int:
    return len(list(markers.glob("entered-*")))


def kill_mid_task_and_restart(worker, markers: Path) -> None:
    wait_for(
        lambda: entered(markers) >= 1, timeout=90, what=f"the slowed call to start\n{worker.log()[-2000:]}"
    )
    worker.kill()
    worker.start()


def reap_like_beat(settings) -> int:
    """Run the reaper task as beat would (in this process), with the short stale threshold the worker uses."""
    settings.ANNOTATOR = {**settings.ANNOTATOR, "STALE_JOB_SECONDS": STALE_SECONDS}
    from annotator.jobs.tasks import reap_stale_jobs

    return reap_stale_jobs()

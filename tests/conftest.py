"""Shared fixtures: media in a temp folder per test, API clients per role, a real Celery worker.

The worker is a separate ``celery worker`` process consuming the configured broker (the
filesystem transport by default, Redis when CELERY_BROKER_URL says so) against the test
database, exactly as in production. Tests that use it need ``transaction=True`` so their
rows are committed and visible to the worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from kombu import pools as kombu_pools
from rest_framework.test import APIClient

from tests.factories import UserFactory, make_project

ROOT = Path(__file__).resolve().parent.parent


# Fixtures that start a real Celery worker (or need one): their tests are marked ``worker`` and stay
# out of ``make test-fast``. A test that asks for a worker with ``request.getfixturevalue`` is marked
# by hand.
WORKER_FIXTURES = {"celery_worker", "training_worker", "worker_on_shipped_base", "learning_worker"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if WORKER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.worker)


@pytest.fixture(autouse=True)
def _media_and_var(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.ANNOTATOR = {
        **settings.ANNOTATOR,
        "EMBEDDING_ROOT": str(tmp_path / "embeddings"),
        "MODEL_ROOT": str(tmp_path / "models"),
    }


@pytest.fixture
def users(db):
    return {
        "admin": UserFactory(username="alice_admin"),
        "reviewer": UserFactory(username="rita_reviewer"),
        "annotator": UserFactory(username="andy_annotator"),
        "outsider": UserFactory(username="oscar_outsider"),
    }


@pytest.fixture
def project(users):
    return make_project(admin=users["admin"], reviewer=users["reviewer"], annotator=users["annotator"])


@pytest.fixture
def client_for(users):
    def make(role: str) -> APIClient:
        client = APIClient()
        client.force_authenticate(users[role])
        return client

    return make


class CeleryWorker:
    """A ``celery worker`` subprocess bound to the test database; restartable (for kill tests)."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the subprocess
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "annotator",
                "worker",
                "-Q",
                "default,inference,training",
                "-P",
                "solo",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "INFO",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery worker exited early:\n{self.log_path.read_text()[-3000:]}")
            if b"ready." in self.log_path.read_bytes():
                return
            time.sleep(0.3)
        raise RuntimeError(f"celery worker not ready after {timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_for(predicate, *, timeout: float = 120, interval: float = 0.3, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail the test with ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def _reset_connections(app) -> None:
    """Drop pooled broker connections so the next publish uses the current transport options.

    The app's pools live in kombu's global registry (keyed by URL and options): closing one
    without clearing the registry would hand the same closed pool back later.
    """
    kombu_pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def private_broker(tmp_path: Path) -> Iterator[dict[str, str]]:
    """This process publishes to a broker of its own: a folder under ``tmp_path`` (the filesystem
    transport) or a private key prefix on the Redis server. Yields the environment a worker needs
    to consume the same queues."""
    from annotator.celery import app, ensure_broker_folders

    old_options = app.conf.broker_transport_options
    if app.conf.broker_url.startswith("filesystem://"):
        broker_dir = tmp_path / "broker"
        env = {"ANNOTATOR_VAR_DIR": str(tmp_path)}  # the worker's broker folder = tmp_path/broker
        app.conf.broker_transport_options = {
            "data_folder_in": str(broker_dir / "queue"),
            "data_folder_out": str(broker_dir / "queue"),
            "processed_folder": str(broker_dir / "processed"),
            "store_processed": False,
        }
        _reset_connections(app)
        ensure_broker_folders()
    else:
        # Other test runs on this machine share the Redis server but never see (or steal) these tasks.
        prefix = f"test-{os.getpid()}-{tmp_path.name}:"
        env = {"CELERY_REDIS_KEY_PREFIX": prefix}
        app.conf.broker_transport_options = {**old_options, "global_keyprefix": prefix}
        _reset_connections(app)
    try:
        yield env
    finally:
        app.conf.broker_transport_options = old_options
        _reset_connections(app)


@contextmanager
def refusing_broker(tmp_path):
    """A broker that cannot take a message, for real: Redis on a port where nothing listens, or (the
    filesystem transport keeps its URL) the filesystem transport whose queue folder lies under a file."""
    from annotator.celery import app

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the queue folder should be")
    old_url, old_write = app.conf.broker_url, app.conf.broker_write_url
    old_options, old_retry = app.conf.broker_transport_options, app.conf.task_publish_retry
    app.conf.broker_url = app.conf.broker_write_url = "redis://127.0.0.1:1/0"
    queue = str(blocker / "queue")
    app.conf.broker_transport_options = {"data_folder_in": queue, "data_folder_out": queue}
    app.conf.task_publish_retry = False
    _reset_connections(app)
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.broker_write_url = old_url, old_write
        app.conf.broker_transport_options, app.conf.task_publish_retry = old_options, old_retry
        _reset_connections(app)


def broker_take_all(queue: str = "default") -> list[tuple[str, tuple]]:
    """Take every message off ``queue`` of this process's broker: (task name, args), oldest first."""
    from annotator.celery import app

    taken = []
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            args, _kwargs, _options = message.decode()
            taken.append((message.headers["task"], tuple(args)))
    return taken


@pytest.fixture
def broker(tmp_path):
    """A private broker for a test that reads what reached it (``broker_take_all``) and runs no worker."""
    with private_broker(tmp_path) as env:
        yield env


@pytest.fixture
def celery_worker(transactional_db, tmp_path, settings):
    """A real worker for one test, on the test DB and a private broker folder (or Redis)."""
    from django.db import connection

    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "annotator.settings.test",
        "MEDIA_ROOT": settings.MEDIA_ROOT,
        "ANNOTATOR_EMBEDDING_ROOT": settings.ANNOTATOR["EMBEDDING_ROOT"],
        "ANNOTATOR_MODEL_ROOT": settings.ANNOTATOR["MODEL_ROOT"],
        "PYTHONUNBUFFERED": "1",
    }
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        env["DATABASE_URL"] = (
            f"postgres://{db['USER'] or ''}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    with private_broker(tmp_path) as broker_env:
        worker = CeleryWorker({**env, **broker_env}, tmp_path / "celery-worker.log")
        worker.start()
        yield worker
        worker.stop()


@pytest.fixture(scope="session", autouse=True)
def _var_dir():
    """The file SQLite test DB lives in var/; make sure the folder exists."""
    Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)

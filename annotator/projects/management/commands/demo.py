"""``manage.py demo``: a demo project with synthetic warehouse images, then web, two workers and beat.

Runs on the embedded defaults (SQLite, the filesystem Celery broker); Ctrl-C stops everything.
"""

from __future__ import annotations

import io
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from PIL import Image as PILImage

from annotator.projects.ingest import images_ingest
from annotator.projects.models import Project, Role
from annotator.projects.services import membership_set, project_create

DEMO_PROJECT = "Demo warehouse"


class Command(BaseCommand):
    help = "Load a demo project and run web, a Celery worker with beat and a training worker until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--images", type=int, default=12, help="synthetic images in the demo project")
        parser.add_argument("--no-serve", action="store_true", help="only load the data, start nothing")

    def handle(self, *args, port: int, images: int, no_serve: bool, **options):
        credentials = self._users()
        self._project(images, credentials["admin"][0])
        self.stdout.write(self.style.SUCCESS("Demo users (username / password):"))
        for role, (username, password) in credentials.items():
            self.stdout.write(f"  {role:<10} {username} / {password}")
        if no_serve:
            return
        self._serve(port)

    def _users(self) -> dict[str, tuple[str, str]]:
        """Create (or reset the passwords of) one user per role; passwords are new every run."""
        users = get_user_model()
        out = {}
        for role, username in (("admin", "admin"), ("reviewer", "reviewer"), ("annotator", "annotator")):
            password = secrets.token_urlsafe(9)
            user, _ = users.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_staff = user.is_superuser = role == "admin"
            user.save()
            out[role] = (username, password)
        return out

    def _project(self, count: int, admin_name: str) -> None:
        if Project.objects.filter(name=DEMO_PROJECT).exists():
            self.stdout.write(f"Project '{DEMO_PROJECT}' already exists; keeping it")
            return
        users = get_user_model().objects
        with transaction.atomic():
            project = project_create(name=DEMO_PROJECT, user=users.get(username=admin_name))
            for role in (Role.REVIEWER, Role.ANNOTATOR):
                membership_set(project=project, username=role.value, role=role)
            report = images_ingest(project=project, uploads=list(_demo_images(count)))
        self.stdout.write(
            f"Project '{DEMO_PROJECT}': {len(report.created)} synthetic images queued for "
            "embedding and pre-labelling"
        )

    def _serve(self, port: int) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        procs = {
            name: subprocess.Popen(command, env=env)
            for name, command in demo_commands(sys.executable, port, Path(settings.VAR_DIR)).items()
        }
        stop = {"now": False}
        signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
        signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
        url = f"http://127.0.0.1:{port}"
        if _wait_healthy(f"{url}/healthz", procs):
            self.stdout.write(
                self.style.SUCCESS(f"\nThe annotator is running at {url}/  (Ctrl-C stops it)\n")
            )
        try:
            while not stop["now"] and all(p.poll() is None for p in procs.values()):
                time.sleep(0.5)
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.terminate()
            for name, proc in procs.items():
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                self.stdout.write(f"stopped {name}")


def demo_commands(python: str, port: int, var_dir: Path) -> dict[str, list[str]]:
    """The demo's processes: web, a worker for pre-labels, embeddings and exports (with beat), and a
    worker of its own for training, so a training run never holds up pre-labels or an export."""
    celery = [python, "-m", "celery", "-A", "annotator", "worker", "-c", "1", "-l", "INFO"]
    return {
        "web": [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        "worker+beat": [
            *celery,
            "-n",
            "main@%h",
            "-Q",
            "default,inference",
            "-B",
            "--scheduler",
            "django_celery_beat.schedulers:DatabaseScheduler",
            "-s",
            str(var_dir / "celerybeat-schedule"),
        ],
        "training worker": [*celery, "-n", "training@%h", "-Q", "training"],
    }


def _wait_healthy(url: str, procs: dict, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and all(p.poll() is None for p in procs.values()):
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


def _demo_images(count: int):
    """Synthetic warehouse scenes from the project's own generator, as uploaded JPEG files."""
    from ml.synth import DOMAINS, generate_scene

    domains = sorted(DOMAINS)
    for i in range(count):
        domain = domains[i % len(domains)]
        scene = generate_scene(domain, seed=1000 + i, size=(480, 640))
        buf = io.BytesIO()
        PILImage.fromarray(scene.image).save(buf, "JPEG", quality=90)
        buf.seek(0)
        yield f"{domain}_{i:02d}.jpg", buf

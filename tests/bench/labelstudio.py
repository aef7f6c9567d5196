"""Label Studio 1.23 as the peer in ``make bench``: installed into its own virtualenv, started on
loopback on its own PostgreSQL database behind the same gunicorn settings as ours, fed the same
images and polygons, and driven through its public REST API.

Install location: ``$ANNOTATOR_BENCH_CACHE`` (default ``~/.cache/annotator-bench``)/label-studio-1.23.
Any failure (no network for pip, no PostgreSQL, a start-up error) raises ``Unavailable`` with the
reason; the runner then skips the comparison and says why.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from .bench_api import (
    GUNICORN_ARGS,
    Config,
    Http,
    Operation,
    Unavailable,
    drop_database,
    free_port,
    polygons,
    process_tree_rss_mb,
    recreate_database,
    stop_process,
    timed_ingest,
    wait_http,
)

VERSION_SPEC = "label-studio==1.23.*"
CACHE = Path(os.environ.get("ANNOTATOR_BENCH_CACHE", Path.home() / ".cache" / "annotator-bench"))
VENV = CACHE / "label-studio-1.23"
INSTALL_TIMEOUT = int(os.environ.get("BENCH_LS_INSTALL_TIMEOUT", "1800"))
TOKEN = "benchtoken0123456789abcdef0123456789abcd"
LABELS = ["cardboard_box", "padded_mailer", "plastic_bag", "envelope", "item"]
LABEL_CONFIG = (
    '<View><Image name="image" value="$image"/><PolygonLabels name="label" toName="image">'
    + "".join(f'<Label value="{name}"/>' for name in LABELS)
    + "</PolygonLabels></View>"
)


def _python() -> Path:
    return VENV / "bin" / "python"


def installed_version() -> str | None:
    if not _python().exists():
        return None
    probe = subprocess.run(
        [str(_python()), "-c", "import label_studio, gunicorn; print(label_studio.__version__)"],
        capture_output=True,
        text=True,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


def ensure_installed(log: Callable[[str], None] = print) -> str:
    """Label Studio's version, installing it (and gunicorn) into its own venv on first use."""
    version = installed_version()
    if version:
        return version
    CACHE.mkdir(parents=True, exist_ok=True)
    install_log = CACHE / "label-studio-install.log"
    log(f"Installing {VERSION_SPEC} into {VENV} (first run only; log: {install_log})")
    steps = [
        [sys.executable, "-m", "venv", str(VENV)],
        [str(_python()), "-m", "pip", "install", "--quiet", VERSION_SPEC, "gunicorn"],
    ]
    with install_log.open("a") as out:
        for step in steps:
            try:
                done = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT)
            except subprocess.TimeoutExpired as exc:
                raise Unavailable(
                    f"installing Label Studio took over {INSTALL_TIMEOUT}s; see {install_log}"
                ) from exc
            if done.returncode:
                tail = install_log.read_text(errors="replace")[-1500:]
                raise Unavailable(
                    f"could not install Label Studio ({' '.join(step[-3:])} exited "
                    f"{done.returncode}); see {install_log}\n{tail}"
                )
    version = installed_version()
    if not version:
        raise Unavailable(f"Label Studio installed but cannot be imported; see {install_log}")
    return version


class LabelStudio:
    """A running Label Studio with one project and a legacy API token, mirroring ``OurServer``."""

    db_name = "labelstudio_bench"
    system = "label-studio"

    def __init__(self, config: Config, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.project_id = 0
        self.version = ""
        self.annotation_ids: dict[int, int] = {}  # task id -> annotation id
        self.task_size: dict[int, tuple[int, int]] = {}

    def env(self) -> dict[str, str]:
        db = urlparse(self.database_url)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_"))}
        env.update(
            {
                "DJANGO_DB": "default",
                "POSTGRE_NAME": self.db_name,
                "POSTGRE_USER": db.username or "postgres",
                "POSTGRE_PASSWORD": db.password or "",
                "POSTGRE_HOST": db.hostname or "127.0.0.1",
                "POSTGRE_PORT": str(db.port or 5432),
                "SECRET_KEY": "bench-ls-secret-key-not-for-production",
                "DEBUG": "false",
                "LOG_LEVEL": "WARNING",
                "LABEL_STUDIO_BASE_DATA_DIR": str(self.workdir / "data"),
                "LATEST_VERSION_CHECK": "false",
                "COLLECT_ANALYTICS": "false",
                "SENTRY_DSN": "",
                "FRONTEND_SENTRY_DSN": "",
                "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
                "DJANGO_SETTINGS_MODULE": "core.settings.label_studio",
                "VIRTUAL_ENV": str(VENV),
                "PATH": f"{VENV / 'bin'}:{os.environ.get('PATH', '')}",
            }
        )
        env.pop("PYTHONPATH", None)
        return env

    def start(self) -> LabelStudio:
        self.version = ensure_installed()
        self.database_url = recreate_database(self.config.admin_url, self.db_name)
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        env = self.env()
        # 1) Label Studio's own start command migrates, creates the user, org and token; stop it then.
        log = self.workdir / "label-studio-init.log"
        init = subprocess.Popen(
            [
                str(VENV / "bin" / "label-studio"),
                "start",
                "--no-browser",
                "--data-dir",
                str(self.workdir / "data"),
                "-p",
                str(self.port),
                "--internal-host",
                "127.0.0.1",
                "--username",
                "bench@example.com",
                "--password",
                "bench-password-123",
                "--user-token",
                TOKEN,
                "--enable-legacy-api-token",
            ],
            cwd=self.workdir,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_http(self.url + "/health", 600, init, log)
        finally:
            stop_process(init)
        # 2) The same WSGI server and worker count as ours, instead of Django's development server.
        log = self.workdir / "label-studio.log"
        chdir = subprocess.run(
            [str(_python()), "-c", "import label_studio, os; print(os.path.dirname(label_studio.__file__))"],
            capture_output=True,
            text=True,
            env=env,
        ).stdout.strip()
        self.proc = subprocess.Popen(
            [
                str(_python()),
                "-m",
                "gunicorn",
                "core.wsgi:application",
                "--chdir",
                chdir,
                "--bind",
                f"127.0.0.1:{self.port}",
                *GUNICORN_ARGS,
            ],
            cwd=self.workdir,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_http(self.url + "/health", 180, self.proc, log)
        project = self.client().json(
            "POST", "/api/projects", {"title": "Bench warehouse", "label_config": LABEL_CONFIG}
        )
        self.project_id = project["id"]
        return self

    def stop(self) -> None:
        stop_process(self.proc)

    def rss_mb(self) -> float:
        return process_tree_rss_mb(self.proc.pid) if self.proc else float("nan")

    def client(self) -> Http:
        return Http(self.url, {"Authorization": f"Token {TOKEN}"})

    # ---- the same operations as OurServer

    def ingest(self, files: list[tuple[str, bytes]], *, per_request: int = 10, uploaders: int = 2) -> dict:
        return timed_ingest(
            self.client,
            lambda _: f"/api/projects/{self.project_id}/import",
            files,
            per_request=per_request,
            uploaders=uploaders,
            field_name="file#",
        )  # it reads one file per form field

    def task_ids(self) -> list[int]:
        client, ids, page = self.client(), [], 1
        while True:
            status, data = client.request(
                "GET", f"/api/tasks?project={self.project_id}&page={page}&page_size=100"
            )
            if status == 404:
                return sorted(ids)
            body = json.loads(data)
            rows = body["tasks"] if isinstance(body, dict) else body
            if not rows:
                return sorted(ids)
            ids += [row["id"] for row in rows]
            page += 1

    def result(self, seed: int) -> list[dict]:
        """The same polygons as ours, in Label Studio's result format (percent of the image)."""
        w, h = self.config.image_size
        shapes = polygons(seed, self.config.shapes_per_image, self.config.vertices_per_shape, w, h)
        return [
            {
                "id": f"r{seed}_{i}",
                "from_name": "label",
                "to_name": "image",
                "type": "polygonlabels",
                "original_width": w,
                "original_height": h,
                "image_rotation": 0,
                "value": {
                    "points": [[round(100 * x / w, 4), round(100 * y / h, 4)] for x, y in ring],
                    "polygonlabels": [LABELS[i % len(LABELS)]],
                    "closed": True,
                },
            }
            for i, ring in enumerate(shapes)
        ]

    def annotate_all(self, ids: list[int]) -> None:
        client = self.client()
        for task_id in ids:
            created = client.json(
                "POST", f"/api/tasks/{task_id}/annotations", {"result": self.result(task_id)}
            )
            self.annotation_ids[task_id] = created["id"]

    def save_operation(self, ids: list[int]) -> Callable[[int], Operation]:
        """Each client re-saves its own task's annotation (10 polygons), as the editor's Update does."""

        def make(index: int) -> Operation:
            task_id = ids[index % len(ids)]
            annotation_id = self.annotation_ids[task_id]
            bodies = [{"result": self.result(task_id * 7 + k)} for k in range(4)]
            state = {"n": index}

            def op(client: Http) -> tuple[int, bytes]:
                state["n"] += 1
                return client.request("PATCH", f"/api/annotations/{annotation_id}", bodies[state["n"] % 4])

            return op

        return make

    def list_operation(self, total: int) -> Callable[[int], Operation]:
        pages = max(1, math.ceil(total / 50))

        def make(index: int) -> Operation:
            rng = random.Random(index)

            def op(client: Http) -> tuple[int, bytes]:
                return client.request(
                    "GET", f"/api/tasks?project={self.project_id}&page={rng.randint(1, pages)}&page_size=50"
                )

            return op

        return make

    def export(self) -> dict:
        """Label Studio's synchronous COCO export (annotations only, no image files), downloaded."""
        client = self.client()
        t0 = time.perf_counter()
        status, data = client.request(
            "GET", f"/api/projects/{self.project_id}/export?exportType=COCO&download_resources=false"
        )
        seconds = time.perf_counter() - t0
        if status != 200:
            raise RuntimeError(f"Label Studio export -> {status}: {data[:300]!r}")
        coco = _coco_from_download(data)
        return {
            "seconds": round(seconds, 3),
            "images": len(coco["images"]),
            "annotations": len(coco["annotations"]),
            "bytes": len(data),
        }


def _coco_from_download(data: bytes) -> dict:
    import io
    import zipfile

    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            name = next(n for n in archive.namelist() if n.endswith(".json"))
            return json.loads(archive.read(name))
    return json.loads(data)


@contextmanager
def label_studio(config: Config, workdir: Path):
    server = LabelStudio(config, workdir)
    try:
        yield server.start()
    finally:
        server.stop()
        drop_database(config.admin_url, LabelStudio.db_name)
        shutil.rmtree(workdir / "data", ignore_errors=True)

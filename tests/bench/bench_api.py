"""Our side of the API benchmarks: a bench database, gunicorn + a Celery worker on loopback, a
closed-loop load generator, and the operations Label Studio also has (ingest, save, list, export).

Everything here talks HTTP to a real server process; nothing is timed in-process. The load
generator is plain threads over persistent ``http.client`` connections (one per simulated
client), the same code for both systems, so its own overhead cancels out of the ratios.
"""

from __future__ import annotations

import http.client
import io
import json
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
DEFAULT_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"  # a Redis database of the bench's own
GUNICORN_ARGS = ["--workers", "4", "--worker-class", "gthread", "--threads", "2", "--timeout", "120"]


class Unavailable(Exception):
    """A component the benchmark needs is missing; the message says which and how to get it."""


# --------------------------------------------------------------------------- small utilities


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def process_tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (gunicorn master + workers), in MB."""
    children: dict[int, list[int]] = {}
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(status.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    total_kb, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            pass
        todo.extend(children.get(current, []))
    return round(total_kb / 1024, 1)


def wait_http(
    url: str, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    parsed = urlparse(url)
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            raise Unavailable(f"server exited with {proc.returncode} before answering {url}\n{tail}")
        try:
            conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=5)
            conn.request("GET", parsed.path or "/")
            status = conn.getresponse().status
            conn.close()
            if status < 500:
                return
        except OSError:
            pass
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-3000:] if log else ""
    raise Unavailable(f"{url} did not answer within {timeout:.0f}s\n{tail}")


def stop_process(proc: subprocess.Popen | None, timeout: float = 20) -> None:
    """Stop a server we started (its own process group), politely first."""
    if proc is None or proc.poll() is not None:
        return
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def pg_connect(url: str):
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is in requirements.txt
        raise Unavailable("psycopg is not installed") from exc
    p = urlparse(url)
    try:
        return psycopg.connect(
            host=p.hostname or "127.0.0.1",
            port=p.port or 5432,
            user=p.username or "postgres",
            password=p.password or None,
            dbname=(p.path or "/postgres").lstrip("/") or "postgres",
            autocommit=True,
            connect_timeout=5,
        )
    except Exception as exc:
        raise Unavailable(
            f"PostgreSQL at {p.hostname}:{p.port or 5432} is not reachable ({exc}); "
            "set BENCH_ADMIN_DATABASE_URL or start PostgreSQL"
        ) from exc


def recreate_database(admin_url: str, name: str) -> str:
    """Drop and create database ``name`` on the admin URL's server; returns its URL."""
    with pg_connect(admin_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    p = urlparse(admin_url)
    return p._replace(path=f"/{name}").geturl()


def drop_database(admin_url: str, name: str) -> None:
    try:
        with pg_connect(admin_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Unavailable:
        pass


def redis_flush(url: str) -> None:
    try:
        import redis
    except ImportError as exc:  # pragma: no cover
        raise Unavailable("the redis client is not installed") from exc
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).flushdb()
    except Exception as exc:
        raise Unavailable(
            f"Redis at {url} is not reachable ({exc}); set BENCH_REDIS_URL or start Redis"
        ) from exc


# --------------------------------------------------------------------------- HTTP client + load


class Http:
    """One persistent HTTP/1.1 connection with default headers; reconnects after an error."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None, timeout: float = 120) -> None:
        parsed = urlparse(base_url)
        self.host, self.port, self.timeout = parsed.hostname, parsed.port, timeout
        self.headers = headers or {}
        self.conn: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | dict | list | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        hdrs = {**self.headers, **(headers or {})}
        if isinstance(body, dict | list):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                response = self.conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
                return response.status, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt:  # a keep-alive connection the server had closed: retry once on a new one
                    raise
        raise RuntimeError("unreachable")

    def json(
        self, method: str, path: str, body=None, expect: tuple[int, ...] = (200, 201, 202)
    ) -> dict | list:
        status, data = self.request(method, path, body)
        if status not in expect:
            raise RuntimeError(f"{method} {path} -> {status}: {data[:500]!r}")
        return json.loads(data) if data else {}

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    error_samples: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.seconds, 1),
            "throughput_rps": round(self.requests / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(percentile(self.latencies_ms, 0.50), 1),
            "p95_ms": round(percentile(self.latencies_ms, 0.95), 1),
            "p99_ms": round(percentile(self.latencies_ms, 0.99), 1),
            **({"error_samples": self.error_samples[:5]} if self.error_samples else {}),
        }


Operation = Callable[[Http], tuple[int, bytes]]


def run_load(
    make_client: Callable[[], Http],
    make_operation: Callable[[int], Operation],
    *,
    clients: int,
    seconds: float,
    think_seconds: float = 0.0,
    ok: Callable[[int], bool] = lambda s: 200 <= s < 300,
    on_sample: Callable[[float], None] | None = None,
) -> LoadResult:
    """``clients`` threads, each looping its operation for ``seconds`` (closed loop, optional think time).

    Each client first runs its operation once, untimed: that opens its keep-alive connection and
    loads what it tracks (a save client's current version), as an editor does before a person's
    first save. With a think time, the clients' first timed requests are spread over one think
    time, as independent people's are, instead of all 20 landing in the same instant.
    """
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    samples: list[str] = []
    stop_at = [0.0]
    t_start = [0.0]

    def start_clock() -> None:  # once every client has warmed up, before any is released
        t_start[0] = time.perf_counter()
        stop_at[0] = t_start[0] + seconds

    start_barrier = threading.Barrier(clients + 1, action=start_clock)

    def worker(index: int) -> None:
        http_client = make_client()
        operation = make_operation(index)
        rng = random.Random(index)
        try:
            operation(http_client)  # the untimed warm-up
        except Exception:  # the timed loop reports it if it persists
            http_client.close()
        start_barrier.wait()
        if think_seconds:
            time.sleep(rng.uniform(0.0, think_seconds))
        while time.perf_counter() < stop_at[0]:
            t0 = time.perf_counter()
            try:
                status, data = operation(http_client)
                good = ok(status)
                if not good and len(samples) < 20:
                    samples.append(f"{status}: {data[:200]!r}")
            except Exception as exc:  # a refused or broken request is an error, never a crash of the bench
                good = False
                http_client.close()
                if len(samples) < 20:
                    samples.append(f"{type(exc).__name__}: {exc}")
            latencies[index].append((time.perf_counter() - t0) * 1000)
            if not good:
                errors[index] += 1
            if think_seconds:
                time.sleep(rng.uniform(0.5, 1.5) * think_seconds)
        http_client.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    start_barrier.wait()
    if on_sample is not None:
        while any(t.is_alive() for t in threads):
            on_sample(time.perf_counter() - t_start[0])
            time.sleep(5)
    for t in threads:
        t.join(timeout=seconds + 300)
    elapsed = time.perf_counter() - t_start[0]
    flat = [v for per in latencies for v in per]
    return LoadResult(len(flat), sum(errors), elapsed, flat, samples)


# --------------------------------------------------------------------------- shared test data


def jpeg_bytes(width: int, height: int, seed: int, quality: int = 90) -> bytes:
    """A photo-like JPEG (smooth gradients + noise + boxes) so its size resembles a real 1 MP shot."""
    import numpy as np
    from PIL import Image as PILImage

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [(xx / width) * 120 + 60, (yy / height) * 100 + 50, ((xx + yy) / (width + height)) * 80 + 40], -1
    )
    img = base + rng.normal(0, 12, size=(height, width, 3))
    for _ in range(8):
        x, y = int(rng.integers(0, width - 80)), int(rng.integers(0, height - 80))
        w, h = int(rng.integers(40, width // 3)), int(rng.integers(40, height // 3))
        img[y : y + h, x : x + w] = rng.integers(80, 220, size=3)
    buf = io.BytesIO()
    PILImage.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def polygons(
    seed: int, count: int, vertices: int, width: int, height: int
) -> list[list[tuple[float, float]]]:
    """``count`` convex-ish polygons of ``vertices`` points inside the image, in pixels."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        r = rng.uniform(10, min(width, height) / 6)
        cx, cy = rng.uniform(r + 1, width - r - 1), rng.uniform(r + 1, height - r - 1)
        out.append(
            [
                (
                    round(cx + r * math.cos(2 * math.pi * k / vertices), 2),
                    round(cy + r * math.sin(2 * math.pi * k / vertices), 2),
                )
                for k in range(vertices)
            ]
        )
    return out


def multipart(files: list[tuple[str, bytes]], field_name: str = "files") -> tuple[bytes, str]:
    """A multipart body; a ``field_name`` ending in ``#`` numbers the fields (file0, file1, ...)."""
    boundary = uuid.uuid4().hex
    parts = []
    for index, (name, data) in enumerate(files):
        field = f"{field_name[:-1]}{index}" if field_name.endswith("#") else field_name
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def timed_ingest(
    make_client: Callable[[], Http],
    path_for_batch: Callable[[int], str],
    files: list[tuple[str, bytes]],
    *,
    per_request: int,
    uploaders: int,
    field_name: str = "files",
) -> dict:
    """Upload ``files`` in multipart batches from ``uploaders`` parallel clients; images per second."""
    batches = [files[i : i + per_request] for i in range(0, len(files), per_request)]
    bodies = [multipart(batch, field_name) for batch in batches]
    errors: list[str] = []
    lock = threading.Lock()
    queue = list(range(len(batches)))

    def uploader() -> None:
        client = make_client()
        while True:
            with lock:
                if not queue:
                    break
                index = queue.pop(0)
            body, content_type = bodies[index]
            status, data = client.request("POST", path_for_batch(index), body, {"Content-Type": content_type})
            if status not in (200, 201):
                errors.append(f"{status}: {data[:300]!r}")
        client.close()

    threads = [threading.Thread(target=uploader) for _ in range(uploaders)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} upload requests failed: {errors[:3]}")
    return {
        "images": len(files),
        "seconds": round(seconds, 2),
        "images_per_s": round(len(files) / seconds, 1),
        "per_request": per_request,
        "uploaders": uploaders,
    }


# --------------------------------------------------------------------------- our server


@dataclass
class Config:
    seconds: float = float(os.environ.get("BENCH_SECONDS", "15"))
    clients: int = int(os.environ.get("BENCH_CLIENTS", "20"))
    ingest_images: int = int(os.environ.get("BENCH_INGEST_IMAGES", "60"))
    list_images: int = int(os.environ.get("BENCH_LIST_IMAGES", "500"))
    shapes_per_image: int = 10
    vertices_per_shape: int = 16
    image_size: tuple[int, int] = (640, 480)
    paced_think_seconds: float = float(os.environ.get("BENCH_THINK_SECONDS", "1.0"))
    admin_url: str = os.environ.get(
        "BENCH_ADMIN_DATABASE_URL", os.environ.get("DATABASE_URL", DEFAULT_ADMIN_URL)
    )
    redis_url: str = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)


class OurServer:
    """The annotator on a fresh PostgreSQL database, behind gunicorn, with a Celery worker."""

    db_name = "annotator_bench"
    system = "annotator"

    def __init__(self, config: Config, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.token = ""
        self.project_id = 0
        self.category_ids: list[int] = []

    def env(self) -> dict[str, str]:
        if not self.config.admin_url.startswith("postgres"):
            raise Unavailable(
                f"the API benchmark runs on PostgreSQL; DATABASE_URL is {self.config.admin_url!r}"
            )
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "annotator.settings.production",
            "DJANGO_SECRET_KEY": "bench-" + uuid.uuid4().hex * 2,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": self.database_url,
            "DATABASE_CONN_MAX_AGE": "60",
            "CELERY_BROKER_URL": self.config.redis_url,
            "ANNOTATOR_VAR_DIR": str(self.workdir),
            "MEDIA_ROOT": str(self.workdir / "media"),
            "ANNOTATOR_AUTO_PRE_LABEL": "false",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }

    def start(self) -> OurServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.database_url = recreate_database(self.config.admin_url, self.db_name)
        redis_flush(self.config.redis_url)
        env = self.env()
        migrate = subprocess.run(
            [PY, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        if migrate.returncode:
            raise RuntimeError(f"migrate failed:\n{migrate.stderr[-3000:]}")
        setup = subprocess.run(
            [PY, "manage.py", "shell", "-c", _SETUP_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True
        )
        if setup.returncode:
            raise RuntimeError(f"bench setup failed:\n{setup.stderr[-3000:]}")
        info = json.loads(setup.stdout.strip().splitlines()[-1])
        self.token, self.project_id, self.category_ids = info["token"], info["project"], info["categories"]
        log = self.workdir / "gunicorn.log"
        self.proc = subprocess.Popen(
            [
                PY,
                "-m",
                "gunicorn",
                "annotator.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                *GUNICORN_ARGS,
            ],
            cwd=ROOT,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_http(self.url + "/healthz", 90, self.proc, log)
        return self

    def start_worker(self) -> None:
        """One worker on the ``default`` queue (exports); embeddings queued by uploads are left alone."""
        log = self.workdir / "worker.log"
        self.worker = subprocess.Popen(
            [
                PY,
                "-m",
                "celery",
                "-A",
                "annotator",
                "worker",
                "-Q",
                "default",
                "-P",
                "solo",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "WARNING",
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        stop_process(self.worker)
        stop_process(self.proc)

    def rss_mb(self) -> float:
        return process_tree_rss_mb(self.proc.pid) if self.proc else float("nan")

    def client(self) -> Http:
        return Http(self.url, {"Authorization": f"Token {self.token}"})

    # ---- the operations both systems have

    def ingest(self, files: list[tuple[str, bytes]], *, per_request: int = 10, uploaders: int = 2) -> dict:
        return timed_ingest(
            self.client,
            lambda _: f"/api/v1/projects/{self.project_id}/images",
            files,
            per_request=per_request,
            uploaders=uploaders,
        )

    def image_ids(self) -> list[int]:
        client, ids, page = self.client(), [], 1
        while True:
            body = client.json("GET", f"/api/v1/projects/{self.project_id}/images?page={page}")
            ids += [row["id"] for row in body["results"]]
            if not body["next"]:
                return sorted(ids)
            page += 1

    def annotation_body(self, seed: int, version: int) -> dict:
        w, h = self.config.image_size
        shapes = polygons(seed, self.config.shapes_per_image, self.config.vertices_per_shape, w, h)
        return {
            "expected_version": version,
            "annotations": [
                {
                    "category": self.category_ids[i % len(self.category_ids)],
                    "shape": [[[list(p) for p in ring]]],
                }
                for i, ring in enumerate(shapes)
            ],
        }

    def annotate_all(self, ids: list[int]) -> None:
        client = self.client()
        for image_id in ids:
            client.json("PUT", f"/api/v1/images/{image_id}/annotations", self.annotation_body(image_id, 0))

    def save_operation(self, ids: list[int]) -> Callable[[int], Operation]:
        """Each client re-saves its own image (10 polygons), tracking the version like the UI does."""

        def make(index: int) -> Operation:
            image_id = ids[index % len(ids)]
            state = {"version": None, "seed": index}
            bodies = [self.annotation_body(image_id * 7 + k, 0) for k in range(4)]

            def op(client: Http) -> tuple[int, bytes]:
                if state["version"] is None:
                    state["version"] = client.json("GET", f"/api/v1/images/{image_id}/annotations")["version"]
                state["seed"] += 1
                body = {**bodies[state["seed"] % 4], "expected_version": state["version"]}
                status, data = client.request("PUT", f"/api/v1/images/{image_id}/annotations", body)
                if status == 200:
                    state["version"] = json.loads(data)["version"]
                elif status == 409:
                    state["version"] = json.loads(data)["error"]["current_version"]
                return status, data

            return op

        return make

    def list_operation(self, total: int) -> Callable[[int], Operation]:
        pages = max(1, math.ceil(total / 50))

        def make(index: int) -> Operation:
            rng = random.Random(index)

            def op(client: Http) -> tuple[int, bytes]:
                return client.request(
                    "GET", f"/api/v1/projects/{self.project_id}/images?page={rng.randint(1, pages)}"
                )

            return op

        return make

    def export(self) -> dict:
        """Request a COCO export (JSON, polygons, every status), wait for the worker, download it."""
        client = self.client()
        t0 = time.perf_counter()
        job = client.json(
            "POST",
            f"/api/v1/projects/{self.project_id}/exports",
            {
                "include_images": False,
                "status": ["new", "pre_labeled", "in_progress", "submitted", "accepted", "rejected"],
            },
        )
        while job["status"] not in ("succeeded", "failed", "cancelled"):
            time.sleep(0.05)
            job = client.json("GET", f"/api/v1/exports/{job['id']}")
            if time.perf_counter() - t0 > 600:
                raise RuntimeError("export did not finish in 10 minutes")
        if job["status"] != "succeeded":
            raise RuntimeError(f"export {job['status']}: {job.get('message')}")
        status, data = client.request("GET", f"/api/v1/exports/{job['id']}/download")
        seconds = time.perf_counter() - t0
        if status != 200:
            raise RuntimeError(f"export download -> {status}")
        coco = json.loads(data)
        return {
            "seconds": round(seconds, 3),
            "images": len(coco["images"]),
            "annotations": len(coco["annotations"]),
            "bytes": len(data),
        }


_SETUP_SCRIPT = """
import json
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from annotator.projects.services import project_create
user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-password-123")
project = project_create(name="Bench warehouse", user=user)
project.auto_pre_label = False
project.save()
print(json.dumps({"token": Token.objects.create(user=user).key, "project": project.id,
                  "categories": list(project.categories.order_by("id").values_list("id", flat=True))}))
"""


@contextmanager
def our_server(config: Config, workdir: Path):
    server = OurServer(config, workdir)
    try:
        yield server.start()
    finally:
        server.stop()
        drop_database(config.admin_url, OurServer.db_name)
        shutil.rmtree(workdir / "media", ignore_errors=True)

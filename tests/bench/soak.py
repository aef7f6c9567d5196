"""``make soak``: 20 simulated people work for 10 minutes on gunicorn + PostgreSQL + Redis.

    python -m tests.bench.soak [--minutes 10] [--annotators 18] [--reviewers 2]

Annotators claim the next image from the queue, open it (detail, annotations, file), save their
polygons a few times as the editor's autosave does, and submit; reviewers accept or reject what
was submitted; an admin uploads a new batch every 30 s. Every request must succeed (2xx; 204 for
an empty queue) and the server's memory (gunicorn master + workers) must stay flat: the mean of
the last third of the samples within 15 % (and 64 MB) of the mean of the second third (the first
third is warm-up). Exit status 1 when either fails. Prints the figures and writes them to
``var/soak.json`` (or ``$SOAK_JSON``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from .bench_api import PY, ROOT, Config, Http, jpeg_bytes, multipart, our_server, percentile, polygons

ALLOWED = {200, 201, 202, 204}

_PEOPLE_SCRIPT = """
import json, os
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from annotator.projects.models import Membership, Project
project = Project.objects.get(pk=int(os.environ["SOAK_PROJECT"]))
tokens = {"annotator": [], "reviewer": []}
for role in ("annotator", "reviewer"):
    count = int(os.environ["SOAK_" + role.upper() + "S"])
    for i in range(count):
        user = get_user_model().objects.create_user(f"soak_{role}_{i}", password="soak-password-123")
        Membership.objects.create(project=project, user=user, role=role)
        tokens[role].append(Token.objects.create(user=user).key)
print(json.dumps(tokens))
"""


class Recorder:
    """Latency per operation and every unexpected answer, shared by all simulated people."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.counts: dict[str, int] = defaultdict(int)

    def call(
        self, client: Http, name: str, method: str, path: str, body=None, headers=None, allowed=ALLOWED
    ) -> tuple[int, bytes]:
        t0 = time.perf_counter()
        try:
            status, data = client.request(method, path, body, headers)
        except Exception as exc:  # a broken connection is an error to report, not a crash
            client.close()
            status, data = 0, f"{type(exc).__name__}: {exc}".encode()
        ms = (time.perf_counter() - t0) * 1000
        with self.lock:
            self.latencies[name].append(ms)
            self.counts[name] += 1
            if status not in allowed:
                self.errors.append(f"{name} {method} {path} -> {status}: {data[:200]!r}")
        return status, data


def annotator(server, token: str, rec: Recorder, stop: float, seed: int, think: float) -> None:
    client = Http(server.url, {"Authorization": f"Token {token}"})
    rng = random.Random(seed)
    w, h = server.config.image_size
    while time.monotonic() < stop:
        status, data = rec.call(
            client, "queue_next", "POST", f"/api/v1/projects/{server.project_id}/queue/next"
        )
        if status != 200:
            time.sleep(think * 2)
            continue
        image = json.loads(data)
        image_id = image["id"]
        rec.call(client, "image_detail", "GET", f"/api/v1/images/{image_id}")
        rec.call(client, "image_file", "GET", f"/api/v1/images/{image_id}/file")
        status, data = rec.call(client, "annotations_get", "GET", f"/api/v1/images/{image_id}/annotations")
        if status != 200:
            continue
        version = json.loads(data)["version"]
        for step in range(rng.randint(1, 4)):  # autosave while drawing
            time.sleep(rng.uniform(0.5, 1.5) * think)
            shapes = polygons(seed * 1000 + step + image_id, rng.randint(3, 12), 16, w, h)
            body = {
                "expected_version": version,
                "annotations": [
                    {
                        "category": server.category_ids[i % len(server.category_ids)],
                        "shape": [[[list(p) for p in ring]]],
                    }
                    for i, ring in enumerate(shapes)
                ],
            }
            status, data = rec.call(
                client, "annotations_save", "PUT", f"/api/v1/images/{image_id}/annotations", body
            )
            if status != 200:
                break
            version = json.loads(data)["version"]
        else:
            rec.call(
                client, "submit", "POST", f"/api/v1/images/{image_id}/submit", {"expected_version": version}
            )
    client.close()


def reviewer(server, token: str, rec: Recorder, stop: float, seed: int, think: float) -> None:
    client = Http(server.url, {"Authorization": f"Token {token}"})
    rng = random.Random(seed)
    while time.monotonic() < stop:
        status, data = rec.call(
            client,
            "list_submitted",
            "GET",
            f"/api/v1/projects/{server.project_id}/images?status=submitted&page=1",
        )
        rows = json.loads(data)["results"] if status == 200 else []
        if not rows:
            time.sleep(think * 2)
            continue
        image = rng.choice(rows)
        rec.call(client, "revisions", "GET", f"/api/v1/images/{image['id']}/revisions")
        time.sleep(rng.uniform(0.5, 1.5) * think)
        reject = rng.random() < 0.2
        body = {
            "decision": "reject" if reject else "accept",
            "comment": "box edge is off" if reject else "",
            "expected_version": image["version"],
        }
        # Two reviewers may pick the same image: the loser's 409 is the lock doing its job.
        rec.call(
            client, "review", "POST", f"/api/v1/images/{image['id']}/review", body, allowed=ALLOWED | {409}
        )
    client.close()


def uploader(server, rec: Recorder, stop: float, every: float) -> None:
    client = server.client()
    batch = 0
    while time.monotonic() + every < stop:
        time.sleep(every)
        files = [
            (f"soak_{batch}_{i}.jpg", jpeg_bytes(*server.config.image_size, seed=50_000 + batch * 100 + i))
            for i in range(20)
        ]
        body, content_type = multipart(files)
        rec.call(
            client,
            "upload_20",
            "POST",
            f"/api/v1/projects/{server.project_id}/images",
            body,
            {"Content-Type": content_type},
        )
        batch += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", "10")))
    parser.add_argument("--annotators", type=int, default=18)
    parser.add_argument("--reviewers", type=int, default=2)
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds between a person's actions")
    parser.add_argument("--images", type=int, default=300, help="images uploaded before the soak starts")
    args = parser.parse_args(argv)
    config = Config()
    (ROOT / "var").mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="annotator-soak-", dir=ROOT / "var"))
    out_path = Path(os.environ.get("SOAK_JSON", ROOT / "var" / "soak.json"))
    print(
        f"soak: {args.annotators} annotators + {args.reviewers} reviewers for {args.minutes} min "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)",
        flush=True,
    )
    with our_server(config, workdir) as server:
        people = subprocess.run(
            [PY, "manage.py", "shell", "-c", _PEOPLE_SCRIPT],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={
                **server.env(),
                "SOAK_PROJECT": str(server.project_id),
                "SOAK_ANNOTATORS": str(args.annotators),
                "SOAK_REVIEWERS": str(args.reviewers),
            },
        )
        if people.returncode:
            raise RuntimeError(people.stderr[-2000:])
        tokens = json.loads(people.stdout.strip().splitlines()[-1])
        files = [
            (f"start_{i:04d}.jpg", jpeg_bytes(*config.image_size, seed=40_000 + i))
            for i in range(args.images)
        ]
        server.ingest(files, per_request=50, uploaders=2)

        rec = Recorder()
        stop = time.monotonic() + args.minutes * 60
        threads = [
            threading.Thread(target=annotator, args=(server, t, rec, stop, i, args.think), daemon=True)
            for i, t in enumerate(tokens["annotator"])
        ]
        threads += [
            threading.Thread(target=reviewer, args=(server, t, rec, stop, 100 + i, args.think), daemon=True)
            for i, t in enumerate(tokens["reviewer"])
        ]
        threads.append(threading.Thread(target=uploader, args=(server, rec, stop, 30.0), daemon=True))
        samples: list[tuple[float, float]] = []
        t0 = time.monotonic()
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            samples.append((round(time.monotonic() - t0, 1), server.rss_mb()))
            elapsed = samples[-1][0]
            if len(samples) % 6 == 1:
                done = sum(rec.counts.values())
                print(
                    f"  t={elapsed:6.0f}s  requests={done:6d}  errors={len(rec.errors):3d}  "
                    f"server RSS={samples[-1][1]:7.1f} MB",
                    flush=True,
                )
            time.sleep(10)
        for t in threads:
            t.join(timeout=120)
        counts = subprocess.run(
            [
                PY,
                "manage.py",
                "shell",
                "-c",
                "from annotator.projects.models import Image; from django.db.models import Count; "
                "import json; print(json.dumps({r['status']: r['n'] for r in "
                "Image.objects.values('status').annotate(n=Count('id'))}))",
            ],
            cwd=ROOT,
            env=server.env(),
            capture_output=True,
            text=True,
        )
        statuses = json.loads(counts.stdout.strip().splitlines()[-1]) if counts.returncode == 0 else {}

    shutil.rmtree(workdir, ignore_errors=True)
    rss = [mb for _, mb in samples]
    third = max(1, len(rss) // 3)
    middle, last = rss[third : 2 * third] or rss, rss[-third:]
    middle_mean, last_mean = sum(middle) / len(middle), sum(last) / len(last)
    growth_mb = last_mean - middle_mean
    flat = growth_mb <= max(64.0, 0.15 * middle_mean)
    total = sum(rec.counts.values())
    seconds = args.minutes * 60
    report = {
        "minutes": args.minutes,
        "annotators": args.annotators,
        "reviewers": args.reviewers,
        "think_s": args.think,
        "requests": total,
        "requests_per_s": round(total / seconds, 1),
        "errors": len(rec.errors),
        "error_samples": rec.errors[:10],
        "image_statuses": statuses,
        "operations": {
            name: {
                "count": rec.counts[name],
                "p50_ms": round(percentile(v, 0.5), 1),
                "p95_ms": round(percentile(v, 0.95), 1),
                "max_ms": round(max(v), 1),
            }
            for name, v in sorted(rec.latencies.items())
        },
        "server_rss_mb": {
            "first": rss[0] if rss else None,
            "middle_third_mean": round(middle_mean, 1),
            "last_third_mean": round(last_mean, 1),
            "growth_mb": round(growth_mb, 1),
            "max": max(rss) if rss else None,
            "samples": samples,
        },
        "memory_flat": flat,
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(report, indent=2))
    print()
    print(f"{'operation':18} {'count':>7} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}")
    for name, row in report["operations"].items():
        print(f"{name:18} {row['count']:7d} {row['p50_ms']:9.1f} {row['p95_ms']:9.1f} {row['max_ms']:9.1f}")
    print(f"\nrequests: {total} ({report['requests_per_s']}/s), errors: {len(rec.errors)}")
    print(f"images by status at the end: {statuses}")
    print(
        f"server RSS: first {report['server_rss_mb']['first']} MB, middle third {middle_mean:.1f} MB, "
        f"last third {last_mean:.1f} MB, growth {growth_mb:+.1f} MB -> {'flat' if flat else 'GROWING'}"
    )
    for line in rec.errors[:10]:
        print(f"error: {line}")
    print(f"JSON: {out_path}")
    return 0 if not rec.errors and flat else 1


if __name__ == "__main__":
    sys.exit(main())

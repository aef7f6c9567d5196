"""Benchmark: COCO export of 10k images / 100k polygons, time and peak RSS of the exporting process.

Rows are created directly (bulk_create) in a throw-away database (SQLite in a temp folder, or
the server named by DATABASE_URL), then the export runs in a child process so its peak RSS is
measured alone. Prints one JSON object per mode; ``main()`` returns the list for the bench runner.

    /tmp/venv/bin/python -m tests.bench.bench_coco [--images 10000] [--annotations 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET_SECONDS = 20.0
TARGET_RSS_MB = 500.0


def _setup_django(var_dir: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings.test")
    os.environ["ANNOTATOR_VAR_DIR"] = var_dir
    os.environ["MEDIA_ROOT"] = str(Path(var_dir) / "media")
    if "DATABASE_URL" not in os.environ:
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(var_dir) / 'bench.sqlite3'}"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _populate(n_images: int, n_annotations: int, with_files: bool) -> int:
    """Create a project with ``n_images`` accepted images and ``n_annotations`` polygons; returns its id."""
    import numpy as np
    from django.core.management import call_command

    from annotator.annotations.models import Annotation
    from annotator.projects.models import Image
    from annotator.projects.services import project_create
    from ml import geometry

    call_command("migrate", verbosity=0)
    project = project_create(name=f"bench {time.time():.0f}", user=None)
    categories = list(project.categories.values_list("id", flat=True))
    media = Path(os.environ["MEDIA_ROOT"])
    png = _tiny_png()
    rng = np.random.default_rng(0)
    batch: list = []
    for i in range(n_images):
        name = f"projects/{project.id}/images/{i:08d}.png"
        if with_files:
            path = media / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png)
        batch.append(
            Image(
                project=project,
                name=f"cam{i % 7}/frame_{i:06d}.png",
                file=name,
                file_ext="png",
                sha256=f"{i:064x}",
                width=1280,
                height=960,
                status="accepted",
                split="train",
            )
        )
        if len(batch) == 5000:
            Image.objects.bulk_create(batch)
            batch = []
    Image.objects.bulk_create(batch)
    image_ids = list(Image.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    per_image = max(1, n_annotations // max(1, n_images))
    batch = []
    for k in range(n_annotations):
        image_id = image_ids[min(k // per_image, len(image_ids) - 1)]
        cx, cy, r = rng.uniform(100, 1180), rng.uniform(100, 860), rng.uniform(20, 90)
        angles = np.sort(rng.uniform(0, 2 * np.pi, 12))
        ring = [[round(float(cx + r * np.cos(a)), 2), round(float(cy + r * np.sin(a)), 2)] for a in angles]
        shape = [[ring]]
        if k % 20 == 0:  # every 20th instance has a hole
            shape = [[ring, [[cx - 5, cy - 5], [cx + 5, cy - 5], [cx + 5, cy + 5], [cx - 5, cy + 5]]]]
        batch.append(
            Annotation(
                image_id=image_id,
                category_id=categories[k % len(categories)],
                shape=shape,
                bbox=geometry.shape_bbox(shape),
                area=geometry.shape_area(shape),
            )
        )
        if len(batch) == 5000:
            Annotation.objects.bulk_create(batch)
            batch = []
    Annotation.objects.bulk_create(batch)
    return project.id


def _tiny_png() -> bytes:
    import io

    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.new("RGB", (32, 24), (120, 90, 60)).save(buf, "PNG")
    return buf.getvalue()


def _export_child(project_id: int, options: dict) -> dict:
    """Runs in the child process: one export job, timed."""
    from annotator.celery import ensure_broker_folders
    from annotator.datasets.services import export_create, export_run
    from annotator.projects.models import Project

    ensure_broker_folders()  # export_create queues the task too; nobody consumes this throw-away broker
    project = Project.objects.get(pk=project_id)
    job = export_create(project=project, user=None, **options)
    start = time.perf_counter()
    job = export_run(job_id=job.id)
    seconds = time.perf_counter() - start
    return {
        "status": job.status,
        "message": job.message,
        "seconds": round(seconds, 2),
        "summary": job.summary,
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--annotations", type=int, default=100_000)
    parser.add_argument("--modes", default="polygons-json,polygons-zip,rle-json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        var_dir, project_id, options = json.loads(args.child)
        _setup_django(var_dir)
        print(json.dumps(_export_child(project_id, options)))
        return []

    results = []
    with tempfile.TemporaryDirectory(prefix="bench-coco-") as var_dir:
        _setup_django(var_dir)
        modes = args.modes.split(",")
        t0 = time.perf_counter()
        project_id = _populate(
            args.images, args.annotations, with_files=any(m.endswith("zip") for m in modes)
        )
        populate_s = time.perf_counter() - t0
        for mode in modes:
            segmentation, packaging = mode.split("-")
            options = {"segmentation": segmentation, "include_images": packaging == "zip"}
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "tests.bench.bench_coco",
                    "--child",
                    json.dumps([var_dir, project_id, options]),
                ],
                cwd=ROOT,
                env=os.environ.copy(),
                capture_output=True,
                text=True,
                check=False,
            )
            peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr[-3000:])
            child = json.loads(proc.stdout.strip().splitlines()[-1])
            peak_mb = round(max(peak_kb, before) / 1024, 1)  # ru_maxrss is KiB on Linux
            result = {
                "bench": "coco_export",
                "mode": mode,
                "images": args.images,
                "annotations": args.annotations,
                "database": os.environ["DATABASE_URL"].split(":", 1)[0],
                "seconds": child["seconds"],
                "peak_rss_mb": peak_mb,
                "file_mb": round(child["summary"].get("bytes", 0) / 2**20, 1),
                "status": child["status"],
                "populate_seconds": round(populate_s, 1),
                "ok": child["status"] == "succeeded"
                and child["seconds"] <= TARGET_SECONDS
                and peak_mb <= TARGET_RSS_MB,
            }
            print(json.dumps(result), flush=True)
            results.append(result)
    return results


if __name__ == "__main__":
    main()

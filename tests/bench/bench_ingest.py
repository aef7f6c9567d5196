"""Ingest rate: 1 MP JPEGs uploaded over HTTP (multipart, 10 per request, 2 uploaders) to gunicorn
on PostgreSQL + Redis, until every image is decoded, thumbnailed, hashed, stored and has its row.

    python -m tests.bench.bench_ingest [--images 60]     # ours only; `make bench` also runs Label Studio
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from .bench_api import ROOT, Config, jpeg_bytes, our_server

SIZE_1MP = (1155, 866)  # 1,000,230 pixels, 4:3


def ingest_files(count: int, *, seed: int = 0) -> list[tuple[str, bytes]]:
    """``count`` distinct photo-like 1 MP JPEGs (quality 90, ~300 kB each)."""
    return [(f"shelf_{seed + i:05d}.jpg", jpeg_bytes(*SIZE_1MP, seed=seed + i)) for i in range(count)]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=60)
    args = parser.parse_args(argv)
    files = ingest_files(args.images)
    (ROOT / "var").mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=ROOT / "var"))
    with our_server(Config(), workdir) as server:
        result = server.ingest(files, per_request=10, uploaders=2)
        stored = len(server.image_ids())
    shutil.rmtree(workdir, ignore_errors=True)
    result = {
        "bench": "ingest",
        **result,
        "stored": stored,
        "target_images_per_s": 20,
        "ok": stored == len(files) and result["images_per_s"] >= 20,
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()

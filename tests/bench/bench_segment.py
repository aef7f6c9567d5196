"""Latency of ``POST /api/v1/images/{id}/segment`` with a cached embedding (a benchmark, not a test).

Runs the real view through Django's test client on a throw-away SQLite database:
a random-weight SAM vit_b (the compute of the real one) and the offline engine.
``python -m tests.bench.bench_segment [--clicks 40]`` prints JSON.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _setup_django(workdir: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "annotator.settings.test"
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["ANNOTATOR_VAR_DIR"] = str(workdir)
    os.environ["MEDIA_ROOT"] = str(workdir / "media")
    os.environ["ANNOTATOR_EMBEDDING_ROOT"] = str(workdir / "embeddings")
    os.environ["ANNOTATOR_AUTO_PRE_LABEL"] = "false"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(engine: str, clicks: int, workdir: Path) -> dict:
    import numpy as np
    import torch
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client
    from PIL import Image as PILImage

    from annotator.projects.ingest import images_ingest
    from annotator.projects.services import project_create
    from annotator.prompting import engine as prompt_adapter
    from annotator.prompting.services import embedding_ensure
    from ml.synth import generate_scene

    user, _ = get_user_model().objects.get_or_create(username=f"bench-{engine}")
    project = project_create(name=f"bench {engine}", user=user)
    if engine == "sam-vit_b-random":
        from ml.prompt.sam_models import build_sam, save_checkpoint

        checkpoint = workdir / "sam_vit_b_random.pt"
        if not checkpoint.exists():
            torch.manual_seed(0)  # the same random weights every run: the same masks to trace
            save_checkpoint(build_sam("vit_b"), checkpoint, model_type="vit_b")
        settings.ANNOTATOR["SAM_CHECKPOINT"] = str(checkpoint)
        settings.ANNOTATOR["SAM_COMPILE"] = True  # the production default (test settings turn it off)
        project.prompt_engine = "sam"
    else:
        settings.ANNOTATOR["SAM_CHECKPOINT"] = ""
        project.prompt_engine = "default"
    project.save()
    prompt_adapter.get_engine.cache_clear()

    scene = generate_scene("floor_pile", seed=7, size=(768, 1024))
    buf = io.BytesIO()
    PILImage.fromarray(scene.image).save(buf, "JPEG", quality=92)
    buf.seek(0)
    image = images_ingest(project=project, uploads=[("bench.jpg", buf)], user=user).created[0]
    started = time.perf_counter()
    embedding_ensure(image=image)
    embed_seconds = time.perf_counter() - started

    client = Client()
    client.force_login(user)
    rng = np.random.default_rng(0)
    masks = [inst.mask for inst in scene.instances if inst.mask.sum() > 400]

    def click(i: int) -> tuple[float, str]:
        ys, xs = np.nonzero(masks[i % len(masks)])
        k = rng.integers(len(xs))
        body = {"points": [[float(xs[k]) + 0.5, float(ys[k]) + 0.5]], "labels": [1]}
        t0 = time.perf_counter()
        response = client.post(f"/api/v1/images/{image.id}/segment", body, content_type="application/json")
        elapsed = (time.perf_counter() - t0) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"segment answered {response.status_code}: {response.content[:300]!r}")
        return elapsed, response.json()["engine"]

    first_click_ms, engine_id = click(0)
    # The SAM engine compiles its decoder in the background after the first click; clicks in
    # the meantime run the plain decoder. Measure the steady state.
    prompt_engine = prompt_adapter.engine_for(project.prompt_engine)
    decoder = getattr(prompt_engine, "decoder", None)
    compile_seconds = None
    if decoder is not None and decoder.compile_enabled:
        started = time.perf_counter()
        decoder.compiled.wait(timeout=600)
        compile_seconds = round(time.perf_counter() - started, 1)
    for i in range(1, 3):  # warm caches; not counted
        click(i)
    timings = [click(i)[0] for i in range(3, clicks + 3)]
    result = {
        "engine": engine_id,
        "clicks": clicks,
        "embed_seconds": round(embed_seconds, 2),
        "first_click_ms": round(first_click_ms, 1),
        "p50_ms": round(_percentile(timings, 0.5), 1),
        "p95_ms": round(_percentile(timings, 0.95), 1),
        "mean_ms": round(statistics.fmean(timings), 1),
        "image": "1024x768",
    }
    if decoder is not None:
        result.update(
            precision=prompt_engine.precision,
            compile_seconds=compile_seconds,
            threads=settings.ANNOTATOR["SEGMENT_THREADS"],
        )
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clicks", type=int, default=40)
    parser.add_argument("--engines", default="offline,sam-vit_b-random")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-segment-") as tmp:
        _setup_django(Path(tmp))
        results = {name: measure(name, args.clicks, Path(tmp)) for name in args.engines.split(",")}
    return {"segment_endpoint": results}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))

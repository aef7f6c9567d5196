"""Benchmark (not a test): canvas frame time of the annotate view, 4000×3000 image, 150 instances.

    python tests/bench/bench_ui.py [--frames 240] [--json]

Starts a throw-away test database and a live server, stores one 4000×3000 JPEG with 150
model pre-labels (40–60 vertices each, every fifth with a hole, all with score labels), opens
the annotate view in headless Chromium and pans and zooms for ``--frames`` animation frames.
Prints p50 / p95 of (a) the draw time per frame (performance.now() around the render) and
(b) the requestAnimationFrame interval while the view moves, in milliseconds.
Needs frontend/dist (make frontend) and Debian's Chromium.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings.test")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs a loop here

WIDTH, HEIGHT, N_INSTANCES = 4000, 3000, 150
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]

MEASURE_JS = """async (frames) => {
  const a = window.__annotator;
  const view = a.view;
  const r = view.canvas.getBoundingClientRect();
  view.fit();
  await new Promise(requestAnimationFrame);
  a.view.renderer.stats.drawMs.length = 0;
  const deltas = [];
  let last = performance.now();
  for (let i = 0; i < frames; i++) {
    // A third panning, a third zooming in towards a moving cursor, a third zooming back out.
    const phase = Math.floor(3 * i / frames);
    if (phase === 0) view.pan(Math.sin(i / 9) * 14, Math.cos(i / 11) * 9);
    else view.zoom(phase === 1 ? 1.035 : 1 / 1.035,
                   { x: r.width * (0.3 + 0.4 * Math.sin(i / 17) ** 2), y: r.height * 0.5 });
    await new Promise(requestAnimationFrame);
    const now = performance.now();
    deltas.push(now - last);
    last = now;
  }
  await new Promise(requestAnimationFrame);
  return { draw: a.view.renderer.stats.drawMs.slice(), raf: deltas.slice(1) };
}"""


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def blob(cx: float, cy: float, radius: float, n: int, phase: float) -> list[list[float]]:
    """A wobbly closed ring of n points (image pixels)."""
    pts = []
    for k in range(n):
        t = 2 * math.pi * k / n
        r = radius * (1 + 0.12 * math.sin(5 * t + phase) + 0.05 * math.cos(11 * t))
        pts.append([round(cx + r * math.cos(t), 2), round(cy + 0.8 * r * math.sin(t), 2)])
    return pts


def scene_instances(category_ids: list[int]) -> list[dict]:
    cols, rows = 15, 10
    out = []
    for i in range(N_INSTANCES):
        cx = (i % cols + 0.5) * WIDTH / cols
        cy = (i // cols + 0.5) * HEIGHT / rows
        polygon = [blob(cx, cy, 110, 40 + i % 21, i)]
        if i % 5 == 0:
            polygon.append(list(reversed(blob(cx, cy, 35, 16, -i))))
        out.append(
            {
                "category": category_ids[i % len(category_ids)],
                "shape": [polygon],
                "score": round(0.35 + 0.6 * ((i * 37) % 100) / 100, 2),
                "source": "model",
            }
        )
    return out


def big_jpeg() -> bytes:
    import numpy as np
    from PIL import Image as PILImage

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = (90 + 30 * np.sin(xx / 130.0) * np.cos(yy / 170.0)).astype(np.float32)
    img = np.stack([base, base * 0.95, base * 0.9], axis=-1) + rng.normal(0, 6, (HEIGHT, WIDTH, 3))
    buf = io.BytesIO()
    PILImage.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def run(frames: int = 240) -> dict:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.db import connection, connections
    from django.test.testcases import LiveServerThread
    from django.test.utils import setup_test_environment, teardown_test_environment
    from playwright.sync_api import sync_playwright

    from annotator.annotations.services import image_pre_label
    from annotator.projects.ingest import images_ingest
    from annotator.projects.models import Image
    from tests.factories import UserFactory, make_project

    tmp = tempfile.TemporaryDirectory(prefix="bench-ui-")
    settings.MEDIA_ROOT = str(Path(tmp.name) / "media")
    Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    server = None
    try:
        user = UserFactory(username="bench_admin")
        project = make_project(admin=user, name="Bench")
        # The bench needs no embeddings or pre-label jobs: keep the broker untouched.
        with mock.patch("annotator.projects.ingest.images_added"):
            images_ingest(
                project=project, uploads=[("bench_4000x3000.jpg", io.BytesIO(big_jpeg()))], user=user
            )
        image = Image.objects.get(project=project)
        image_pre_label(
            image=image, instances=scene_instances(list(project.categories.values_list("id", flat=True)))
        )
        image.refresh_from_db()
        assert (image.width, image.height) == (WIDTH, HEIGHT) and image.annotations.count() == N_INSTANCES

        overrides = {c.alias: c for c in connections.all() if c.vendor == "sqlite" and c.is_in_memory_db()}
        server = LiveServerThread("localhost", StaticFilesHandler, connections_override=overrides, port=0)
        server.daemon = True
        server.start()
        server.is_ready.wait()
        if server.error:
            raise server.error
        base = f"http://localhost:{server.port}"

        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
                headless=True,
                args=CHROMIUM_ARGS,
            )
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{base}/accounts/login/?next=/app/")
            page.fill("#id_username", "bench_admin")
            page.fill("#id_password", "pw-for-tests")
            page.press("#id_password", "Enter")
            page.wait_for_url("**/app/**")
            page.goto(f"{base}/app/#/images/{image.id}/annotate")
            page.wait_for_function(
                "() => window.__annotator && window.__annotator.view.image !== null", timeout=120_000
            )
            page.keyboard.press("Tab")  # a selection, so vertex handles are drawn too
            result = page.evaluate(MEASURE_JS, frames)
            browser.close()
    finally:
        if server is not None:
            server.terminate()
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()
        tmp.cleanup()

    draw, raf = result["draw"], result["raf"]
    return {
        "image": f"{WIDTH}x{HEIGHT}",
        "instances": N_INSTANCES,
        "frames": len(raf),
        "draw_ms_p50": round(percentile(draw, 0.5), 2),
        "draw_ms_p95": round(percentile(draw, 0.95), 2),
        "frame_interval_ms_p50": round(percentile(raf, 0.5), 2),
        "frame_interval_ms_p95": round(percentile(raf, 0.95), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    res = run(args.frames)
    if args.json:
        print(json.dumps(res))
        return
    print(
        f"annotate view, {res['image']} image, {res['instances']} instances, {res['frames']} frames (pan + zoom)"
    )
    print(f"  draw time per frame   p50 {res['draw_ms_p50']:7.2f} ms   p95 {res['draw_ms_p95']:7.2f} ms")
    print(
        f"  rAF frame interval    p50 {res['frame_interval_ms_p50']:7.2f} ms   p95 {res['frame_interval_ms_p95']:7.2f} ms"
    )


if __name__ == "__main__":
    main()

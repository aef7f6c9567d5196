"""``make bench``: every benchmark, side by side with Label Studio 1.23; a table and ``var/bench.json``.

    python -m tests.bench.run            # writes var/bench.json, or $BENCH_JSON
    BENCH_SECONDS=30 BENCH_SKIP_LS=1 BENCH_SKIP_OTHERS=1 python -m tests.bench.run

Our API figures come from gunicorn + PostgreSQL + Redis on loopback (``bench_api``); Label Studio
runs on the same PostgreSQL server behind the same gunicorn settings (``labelstudio``). Load
phases alternate between the two systems and each keeps its best of ``BENCH_REPEATS`` runs, so a
burst of load from something else on the machine hurts neither side alone. The other engineers'
benchmarks (COCO export at 10k images, prompt, segment, universal model, UI) run as child
processes and their JSON is merged in; a missing one is reported as skipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from .bench_api import (
    PY,
    ROOT,
    Config,
    Unavailable,
    drop_database,
    jpeg_bytes,
    our_server,
    recreate_database,
    run_load,
)
from .bench_ingest import ingest_files

REPEATS = int(os.environ.get("BENCH_REPEATS", "2"))
OTHER_TIMEOUT = int(os.environ.get("BENCH_OTHER_TIMEOUT", "900"))
OTHERS = [  # module, arguments, what it measures
    ("bench_coco", [], "COCO export time and peak RSS, 10k images / 100k polygons"),
    ("bench_segment", [], "segment endpoint latency"),
    ("bench_prompt", [], "prompt engine latency per click"),
    ("bench_universal", [], "universal model: pre-label seconds per image"),
    ("bench_effort", [], "annotator seconds per image with pre-labels, as a share of drawing everything"),
    ("bench_queue", [], "queue next with the diversity re-rank: 2,000 pool and 2,000 labelled images"),
    ("bench_ui", ["--json"], "UI frame time"),
    ("bench_acceptance", [], "acceptance panel matching on a 12 MP photo: run-length IoU vs full-size masks"),
]


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def conditions(config: Config) -> dict:
    load = os.getloadavg()
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_start": [round(v, 2) for v in load],
        "clients": config.clients,
        "seconds_per_phase": config.seconds,
        "repeats": REPEATS,
        "server": "gunicorn gthread 4x2, loopback",
        "database": "PostgreSQL (both systems, separate databases)",
        "broker": "Redis",
        "note": "shared 2-core machine: figures are noisy; ratios come from alternating phases in the same run",
    }


# --------------------------------------------------------------------------- per-system phases


def prepare(system, config: Config, files_1mp, files_small) -> dict:
    """Ingest (timed) and the annotated dataset the load phases and the export use."""
    out = {"ingest": system.ingest(files_1mp, per_request=10, uploaders=2)}
    ids_before = _ids(system)
    if len(ids_before) != len(files_1mp):
        raise RuntimeError(
            f"{system.system}: {len(ids_before)} items after uploading {len(files_1mp)} images"
        )
    system.ingest(files_small, per_request=50, uploaders=2)
    ids = _ids(system)
    if len(ids) != len(files_1mp) + len(files_small):
        raise RuntimeError(
            f"{system.system}: {len(ids)} items after uploading {len(files_1mp) + len(files_small)}"
        )
    t0 = time.perf_counter()
    system.annotate_all(ids)
    out["dataset"] = {
        "items": len(ids),
        "polygons": len(ids) * config.shapes_per_image,
        "vertices_per_polygon": config.vertices_per_shape,
        "sequential_first_save_ms": round(1000 * (time.perf_counter() - t0) / len(ids), 1),
    }
    system.ids = ids
    return out


def _ids(system) -> list[int]:
    return system.image_ids() if hasattr(system, "image_ids") else system.task_ids()


def load_phase(system, config: Config, kind: str, think: float = 0.0) -> dict:
    op = system.save_operation(system.ids) if kind == "save" else system.list_operation(len(system.ids))
    result = run_load(system.client, op, clients=config.clients, seconds=config.seconds, think_seconds=think)
    return {**result.summary(), "server_rss_mb": system.rss_mb()}


def best(runs: list[dict], key: str = "throughput_rps") -> dict:
    good = [r for r in runs if r.get("errors", 0) == 0] or runs
    return {**max(good, key=lambda r: r[key]), "runs": [r[key] for r in runs]}


# --------------------------------------------------------------------------- others' benchmarks


def run_others(env: dict[str, str]) -> tuple[dict, list[str]]:
    figures, skipped = {}, []
    if os.environ.get("BENCH_SKIP_OTHERS"):
        return figures, ["other benchmarks: BENCH_SKIP_OTHERS is set"]
    for module, args, what in OTHERS:
        name = f"tests.bench.{module}"
        if importlib.util.find_spec(name) is None:
            skipped.append(f"{module}: not written yet ({what})")
            log(f"skip {module}: tests/bench/{module}.py does not exist yet")
            continue
        log(f"{module}: {what}")
        t0 = time.perf_counter()
        try:
            done = subprocess.run(
                [PY, "-m", name, *args],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=OTHER_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            skipped.append(f"{module}: timed out after {OTHER_TIMEOUT}s")
            continue
        parsed = _json_objects(done.stdout)
        if done.returncode or not parsed:
            reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            skipped.append(f"{module}: failed (exit {done.returncode}): {reason[0][:300]}")
            log(f"{module} failed: {reason[0][:300]}")
            continue
        figures[module] = parsed[0] if len(parsed) == 1 else parsed
        log(f"{module}: done in {time.perf_counter() - t0:.0f}s")
    return figures, skipped


def _json_objects(stdout: str) -> list:
    text = stdout.strip()
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        pass
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(("{", "[")):
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return found


def _flatten(value, prefix: str = "") -> list[tuple[str, object]]:
    if isinstance(value, dict):
        return [item for k, v in value.items() for item in _flatten(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(value, list):
        if all(isinstance(v, dict) for v in value):
            rows = []
            for i, v in enumerate(value):
                tag = v.get("mode") or v.get("engine") or v.get("name") or str(i)
                rows += _flatten(
                    {k: x for k, x in v.items() if k not in ("mode", "engine", "name")}, f"{prefix}[{tag}]"
                )
            return rows
        return []
    if isinstance(value, int | float | bool):  # figures only; names and labels stay in the JSON
        return [(prefix, value)]
    return []


# --------------------------------------------------------------------------- the table


def table(report: dict) -> str:
    ours, theirs, ratios = report["ours"], report.get("label_studio") or {}, report["ratios"]
    rows = [("metric", "ours", "Label Studio", "ours/LS", "target")]

    def fmt(v, unit=""):
        return "-" if v is None else f"{v}{unit}"

    def get(d, *path):
        return _dig(d, path)

    rows.append(
        (
            "ingest, 1 MP JPEG/s",
            fmt(get(ours, "ingest", "images_per_s")),
            fmt(get(theirs, "ingest", "images_per_s")),
            fmt(ratios.get("ingest_speed")),
            ">= 20/s",
        )
    )
    for kind, label in (("save", "annotation save"), ("list", "image/task list")):
        sat_o, sat_t = get(ours, kind, "saturated"), get(theirs, kind, "saturated")
        key = "annotation_save_throughput" if kind == "save" else "task_list_throughput"
        rows.append(
            (
                f"{label}: req/s, {report['conditions']['clients']} clients",
                fmt(get(sat_o, "throughput_rps")),
                fmt(get(sat_t, "throughput_rps")),
                fmt(ratios.get(key)),
                ">= 2x LS",
            )
        )
        rows.append(
            (
                f"{label}: p50 / p95 ms, saturated",
                f"{fmt(get(sat_o, 'p50_ms'))} / {fmt(get(sat_o, 'p95_ms'))}",
                f"{fmt(get(sat_t, 'p50_ms'))} / {fmt(get(sat_t, 'p95_ms'))}",
                "",
                "",
            )
        )
        paced = get(ours, kind, "paced")
        if paced:
            rows.append(
                (
                    f"{label}: p50 / p95 ms, paced ({paced['think_s']} s think)",
                    f"{paced['p50_ms']} / {paced['p95_ms']}",
                    "",
                    "",
                    "p95 <= 50 ms",
                )
            )
    rows.append(
        (
            "COCO export (JSON), seconds",
            fmt(get(ours, "export", "seconds")),
            fmt(get(theirs, "export", "seconds")),
            fmt(ratios.get("coco_export_speed")),
            ">= 5x LS",
        )
    )
    rows.append(
        (
            "server RSS after load, MB",
            fmt(get(ours, "server_rss_mb")),
            fmt(get(theirs, "server_rss_mb")),
            "",
            "",
        )
    )
    for module, figures in report.get("others", {}).items():
        for key, value in _flatten(figures)[:25]:
            rows.append((f"{module}: {key}"[:70], fmt(value), "", "", ""))
    widths = [max(len(str(r[i])) for r in rows) for i in range(5)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main() -> dict:
    config = Config()
    out_path = Path(os.environ.get("BENCH_JSON", ROOT / "var" / "bench.json"))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "conditions": conditions(config),
        "ours": {},
        "label_studio": None,
        "ratios": {},
        "others": {},
        "skipped": [],
    }
    (ROOT / "var").mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="annotator-bench-", dir=ROOT / "var"))

    # Installing Label Studio can take minutes on the first run: do it while ours is measured.
    ls_install: dict = {}
    if os.environ.get("BENCH_SKIP_LS"):
        report["skipped"].append("Label Studio: BENCH_SKIP_LS is set")
    else:
        from . import labelstudio

        def install() -> None:
            try:
                ls_install["version"] = labelstudio.ensure_installed(log)
            except Unavailable as exc:
                ls_install["error"] = str(exc)

        installer = threading.Thread(target=install, daemon=True)
        installer.start()

    log("generating images (1 MP JPEGs for ingest, 640x480 for the dataset)")
    files_1mp = ingest_files(config.ingest_images, seed=0)
    files_small = [
        (f"scene_{i:04d}.jpg", jpeg_bytes(*config.image_size, seed=10_000 + i, quality=85))
        for i in range(config.list_images)
    ]
    report["conditions"]["ingest_jpeg_kb_mean"] = round(
        sum(len(d) for _, d in files_1mp) / len(files_1mp) / 1024
    )

    with ExitStack() as stack:
        systems = {}
        try:
            log("starting ours: PostgreSQL database, migrations, gunicorn")
            systems["ours"] = stack.enter_context(our_server(config, workdir / "ours"))
        except Unavailable as exc:
            report["skipped"].append(f"API benchmarks: {exc}")
            log(f"SKIP API benchmarks: {exc}")
        if systems and not os.environ.get("BENCH_SKIP_LS"):
            installer.join()
            if "error" in ls_install:
                report["skipped"].append(f"Label Studio: {ls_install['error']}")
                log(f"SKIP Label Studio: {ls_install['error']}")
            else:
                try:
                    from .labelstudio import label_studio

                    log(
                        f"starting Label Studio {ls_install['version']} (first start migrates: a few minutes)"
                    )
                    systems["label_studio"] = stack.enter_context(label_studio(config, workdir / "ls"))
                except (Unavailable, RuntimeError, KeyError, ValueError) as exc:
                    report["skipped"].append(f"Label Studio: could not start: {exc}")
                    log(f"SKIP Label Studio: could not start: {str(exc)[:1000]}")

        results = {name: {} for name in systems}
        for name, system in systems.items():
            log(
                f"{name}: ingest {len(files_1mp)} x 1 MP, then {len(files_small)} images with "
                f"{config.shapes_per_image} polygons each"
            )
            results[name].update(prepare(system, config, files_1mp, files_small))
            log(f"{name}: ingest {results[name]['ingest']['images_per_s']} images/s")
        for kind in ("save", "list"):
            runs: dict[str, list] = {name: [] for name in systems}
            for repeat in range(REPEATS):
                for name, system in systems.items():
                    runs[name].append(load_phase(system, config, kind))
                    log(
                        f"{name}: {kind} run {repeat + 1}: {runs[name][-1]['throughput_rps']} req/s, "
                        f"p95 {runs[name][-1]['p95_ms']} ms, {runs[name][-1]['errors']} errors"
                    )
            for name in systems:
                results[name][kind] = {"saturated": best(runs[name])}
            if "ours" in systems:
                paced = load_phase(systems["ours"], config, kind, think=config.paced_think_seconds)
                results["ours"][kind]["paced"] = {**paced, "think_s": config.paced_think_seconds}
                log(f"ours: {kind} paced: p50 {paced['p50_ms']} ms, p95 {paced['p95_ms']} ms")
        if "ours" in systems:
            systems["ours"].start_worker()
        for name, system in systems.items():
            try:
                exports = [system.export() for _ in range(3)]
                results[name]["export"] = {
                    **min(exports, key=lambda e: e["seconds"]),
                    "runs": [e["seconds"] for e in exports],
                }
                log(f"{name}: COCO export {results[name]['export']}")
            except Exception as exc:  # a failed export is a finding, reported, not a crash
                results[name]["export"] = {"error": str(exc)[:500]}
                log(f"{name}: export failed: {exc}")
            results[name]["server_rss_mb"] = system.rss_mb()

    report["ours"] = results.get("ours", {})
    report["label_studio"] = results.get("label_studio")
    if report["label_studio"] is not None:
        report["label_studio"]["version"] = ls_install.get("version")
    report["ratios"] = ratios(report["ours"], report["label_studio"])

    others_db = None
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if not os.environ.get("BENCH_SKIP_OTHERS"):
        try:
            others_db = recreate_database(config.admin_url, "annotator_bench_others")
            env.update({"DATABASE_URL": others_db, "CELERY_BROKER_URL": config.redis_url})
            migrate = subprocess.run(
                [PY, "manage.py", "migrate", "--noinput"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                env={**env, "DJANGO_SETTINGS_MODULE": "annotator.settings.test"},
            )
            if migrate.returncode:
                raise RuntimeError(migrate.stderr[-1000:])
        except (Unavailable, RuntimeError) as exc:
            log(f"other benchmarks run on their own default database ({exc})")
            env.pop("DATABASE_URL", None)
            others_db = None
    report["others"], skipped = run_others(env)
    report["skipped"] += skipped
    if others_db:
        drop_database(config.admin_url, "annotator_bench_others")

    if not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(workdir, ignore_errors=True)  # server logs; BENCH_KEEP=1 keeps them
    out_path.write_text(json.dumps(report, indent=2, default=str))
    print()
    print(table(report))
    print()
    for line in report["skipped"]:
        print(f"skipped: {line}")
    print(f"\nconditions: {json.dumps(report['conditions'])}")
    print(f"JSON: {out_path}")
    return report


def ratios(ours: dict, theirs: dict | None) -> dict:
    """Ours over theirs, so > 1 means we are faster; ``None`` where either side has no figure."""

    def div(a, b):
        return round(a / b, 2) if a and b else None

    if not theirs:
        return {
            "annotation_save_throughput": None,
            "task_list_throughput": None,
            "coco_export_speed": None,
            "ingest_speed": None,
            "note": "Label Studio was skipped; see 'skipped'",
        }
    g = lambda d, *p: _dig(d, p)  # noqa: E731
    return {
        "annotation_save_throughput": div(
            g(ours, "save", "saturated", "throughput_rps"), g(theirs, "save", "saturated", "throughput_rps")
        ),
        "task_list_throughput": div(
            g(ours, "list", "saturated", "throughput_rps"), g(theirs, "list", "saturated", "throughput_rps")
        ),
        "coco_export_speed": div(g(theirs, "export", "seconds"), g(ours, "export", "seconds")),
        "ingest_speed": div(g(ours, "ingest", "images_per_s"), g(theirs, "ingest", "images_per_s")),
    }


def _dig(d, path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


if __name__ == "__main__":
    main()
    sys.exit(0)

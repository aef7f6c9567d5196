"""Benchmarks for the synthetic generator and the universal model (prints figures; not a test).

    python -m tests.bench.bench_universal [--checkpoint CKPT] [--threads 2] [--photos-only]

Reports: synth ms per 512x512 scene (one thread, per domain), inference seconds per
1024x768 image (median of N, after a warm-up), pre-label seconds per photo and per megapixel
for a 1 MP and a 12 MP (4000x3000) photo on one thread (``predict`` plus every shape, what the
app's pre-label reads; wall and CPU seconds, the latter what a free core would take), and the
checkpoint's file size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import cv2
import torch

from ml.synth import DOMAINS, generate_scene
from ml.universal.evaluate import DEFAULT_CHECKPOINT
from ml.universal.predictor import UniversalPredictor


def bench_synth(count: int) -> dict[str, float]:
    cv2.setNumThreads(1)
    out = {}
    for domain in sorted(DOMAINS):
        generate_scene(domain, 0)
        start = time.process_time()  # one thread: CPU time = time on one free core
        for seed in range(count):
            generate_scene(domain, seed)
        out[domain] = round((time.process_time() - start) / count * 1000, 1)
    out["mean"] = round(statistics.mean(out.values()), 1)
    cv2.setNumThreads(-1)
    return out


def bench_inference(checkpoint: Path, count: int) -> dict[str, float]:
    predictor = UniversalPredictor.from_checkpoint(checkpoint)
    image = cv2.resize(generate_scene("floor_pile", 3).image, (1024, 768), interpolation=cv2.INTER_LINEAR)
    predictor.predict(image)
    times, cpu = [], []
    for _ in range(count):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = predictor.predict(image)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    # Wall time suffers on a shared machine; CPU seconds (all threads) do not.
    return {
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
        "median_cpu_s": round(statistics.median(cpu), 3),
        "instances": len(result.instances),
    }


PHOTOS = {"1mp": (1155, 866), "12mp": (4000, 3000)}  # (width, height)


def bench_photos(checkpoint: Path, count: int) -> dict[str, dict[str, float]]:
    """Pre-label time per photo on one thread: the predictor's ``predict`` and every instance's shape.

    The 12 MP photo is a native 4000x3000 synthetic scene; the 1 MP one its INTER_AREA copy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    predictor = UniversalPredictor.from_checkpoint(checkpoint)
    scene = generate_scene("floor_pile", 3, (PHOTOS["12mp"][1], PHOTOS["12mp"][0])).image
    out = {}
    for name, (width, height) in PHOTOS.items():
        photo = (
            scene
            if (width, height) == PHOTOS["12mp"]
            else cv2.resize(scene, (width, height), interpolation=cv2.INTER_AREA)
        )
        predictor.predict(photo)
        times, cpu = [], []
        for _ in range(count):
            start, start_cpu = time.perf_counter(), time.process_time()
            result = predictor.predict(photo)
            shapes = [inst.shape for inst in result.instances]
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        median, median_cpu, megapixels = (
            statistics.median(times),
            statistics.median(cpu),
            width * height / 1e6,
        )
        out[name] = {
            "width": width,
            "height": height,
            "median_s": round(median, 3),
            "max_s": round(max(times), 3),
            "s_per_mp": round(median / megapixels, 3),
            "median_cpu_s": round(median_cpu, 3),
            "cpu_s_per_mp": round(median_cpu / megapixels, 3),
            "shapes": sum(1 for s in shapes if s),
        }
    torch.set_num_threads(threads)
    cv2.setNumThreads(-1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--scenes", type=int, default=40, help="scenes per domain")
    parser.add_argument("--images", type=int, default=10, help="timed 1024x768 predictions")
    parser.add_argument("--photos", type=int, default=5, help="timed predictions per 1 MP / 12 MP photo")
    parser.add_argument("--photos-only", action="store_true", help="only the 1 MP / 12 MP pre-label case")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.photos_only:
        print(json.dumps({"prelabel_one_thread": bench_photos(Path(args.checkpoint), args.photos)}, indent=2))
        return
    report = {
        "synth_ms_per_512_scene": bench_synth(args.scenes),
        "inference_1024x768": bench_inference(Path(args.checkpoint), args.images),
        "prelabel_one_thread": bench_photos(Path(args.checkpoint), args.photos),
        "checkpoint_mb": round(Path(args.checkpoint).stat().st_size / 1e6, 2),
        "threads": args.threads,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

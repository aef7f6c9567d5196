"""Evaluate a prompt engine with the standard clicker protocol (NoC@85 / NoC@90).

    python -m ml.experiments.prompt.evaluate --engine default --synthetic 100 --seed 1234 --json
    python -m ml.experiments.prompt.evaluate --engine grabcut --coco annotations.json --images DIR --json

Every instance is an independent object to segment (several per image). For time on small
CPUs, at most ``--max-instances`` per image are used (the largest ones first, default 3) and
instances smaller than ``--min-area`` px are skipped; both are reported in the JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ml.prompt import build_engine
from ml.prompt.clicker import run_clicker
from ml.prompt.engine import PromptEngine

SYNTH_SIZE = (512, 512)


@dataclass
class Summary:
    """Running aggregate over instances (update per instance, then ``as_dict``)."""

    noc85: list[int] = field(default_factory=list)
    noc90: list[int] = field(default_factory=list)
    iou_1click: list[float] = field(default_factory=list)
    ms_per_click: list[float] = field(default_factory=list)
    ms_embed: list[float] = field(default_factory=list)
    images: int = 0
    max_clicks: int = 20

    def as_dict(self) -> dict[str, float | int]:
        def pct(values: list[float], q: float) -> float:
            return round(float(np.percentile(values, q)), 2) if values else float("nan")

        n = len(self.noc90)
        return {
            "noc85": round(float(np.mean(self.noc85)), 3) if n else float("nan"),
            "noc90": round(float(np.mean(self.noc90)), 3) if n else float("nan"),
            "miou_1click": round(float(np.mean(self.iou_1click)), 4) if n else float("nan"),
            "ms_per_click_p50": pct(self.ms_per_click, 50),
            "ms_per_click_p95": pct(self.ms_per_click, 95),
            "ms_embed_p50": pct(self.ms_embed, 50),
            "failed_at_max_clicks_pct": (
                round(100.0 * sum(v >= self.max_clicks for v in self.noc90) / n, 2) if n else 0.0
            ),
            "instances": n,
            "images": self.images,
        }


def synthetic_samples(
    count: int, seed: int, offset: int = 0
) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
    """(image, instance masks) from ``ml.synth.generate_scene``, cycling through its domains.

    Scene ``i`` uses seed ``seed + i`` and domain ``i % len(DOMAINS)``; ``offset`` starts at
    scene ``offset`` so disjoint slices of one set can run in parallel."""
    try:
        from ml import synth
    except ImportError as exc:  # pragma: no cover - depends on the repo state
        raise SystemExit(f"--synthetic needs ml.synth (the synthetic scene generator): {exc}") from exc
    domains = list(getattr(synth, "DOMAINS", None) or ["warehouse"])
    for i in range(offset, offset + count):
        scene = synth.generate_scene(domains[i % len(domains)], seed + i, size=SYNTH_SIZE)
        yield np.asarray(scene.image), [np.asarray(inst[0], dtype=bool) for inst in scene.instances]


def coco_samples(
    ann_file: str, images_dir: str, limit: int | None
) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
    """(image, instance masks) from any COCO instances file; crowd annotations are skipped."""
    import cv2
    from pycocotools.coco import COCO

    coco = COCO(ann_file)
    for n, img_id in enumerate(sorted(coco.getImgIds())):
        if limit is not None and n >= limit:
            break
        info = coco.loadImgs(img_id)[0]
        bgr = cv2.imread(str(Path(images_dir) / info["file_name"]), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"cannot read image {info['file_name']} under {images_dir}")
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id, iscrowd=False))
        yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), [coco.annToMask(a).astype(bool) for a in anns]


def evaluate(
    engine: PromptEngine,
    samples: Iterator[tuple[np.ndarray, list[np.ndarray]]],
    *,
    max_instances: int = 3,
    min_area: int = 100,
    max_clicks: int = 20,
    use_previous_mask: bool = False,
    progress: bool = False,
) -> Summary:
    """Run the clicker on every kept instance of every sample and aggregate the metrics."""
    summary = Summary(max_clicks=max_clicks)
    for image, masks in samples:
        kept = sorted((m for m in masks if m.sum() >= min_area), key=lambda m: -int(m.sum()))[:max_instances]
        if not kept:
            continue
        t0 = time.perf_counter()
        embedding = engine.embed(image)
        summary.ms_embed.append((time.perf_counter() - t0) * 1000.0)
        summary.images += 1
        for gt in kept:
            trace = run_clicker(
                engine, embedding, gt, max_clicks=max_clicks, use_previous_mask=use_previous_mask
            )
            summary.noc85.append(trace.noc(0.85, max_clicks))
            summary.noc90.append(trace.noc(0.90, max_clicks))
            summary.iou_1click.append(trace.ious[0] if trace.ious else 0.0)
            summary.ms_per_click.extend(trace.ms)
        if progress:
            s = summary.as_dict()
            print(f"[{summary.images}] instances={s['instances']} noc90={s['noc90']}", file=sys.stderr)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", default="default", help="sam | grabcut | offline | default")
    parser.add_argument("--checkpoint", default=None, help="SAM checkpoint (for --engine sam/default)")
    parser.add_argument("--model-type", default="vit_b", help="vit_b | vit_l | vit_h | tiny")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--synthetic", type=int, metavar="N", help="evaluate on N ml.synth scenes")
    source.add_argument("--coco", metavar="FILE", help="COCO instances JSON (needs --images)")
    parser.add_argument("--images", metavar="DIR", help="image folder for --coco")
    parser.add_argument("--limit", type=int, default=None, help="at most this many COCO images")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--offset", type=int, default=0, help="first synthetic scene index (parallel slices)")
    parser.add_argument("--dump", metavar="FILE", help="also write per-instance results (JSON) here")
    parser.add_argument("--max-instances", type=int, default=3, help="per image, largest first")
    parser.add_argument("--min-area", type=int, default=100, help="skip smaller instances (px)")
    parser.add_argument("--max-clicks", type=int, default=20)
    parser.add_argument(
        "--use-previous-mask", action="store_true", help="also pass the previous result as the mask prompt"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="limit torch / OpenCV threads (timings on a shared CPU are steadier with 1)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    args = parser.parse_args(argv)
    if args.threads:
        import cv2
        import torch

        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    if args.coco and not args.images:
        parser.error("--coco needs --images DIR")

    engine = build_engine(args.engine, checkpoint=args.checkpoint, model_type=args.model_type)
    if args.synthetic is not None:
        samples = synthetic_samples(args.synthetic, args.seed, args.offset)
        dataset = f"ml.synth x{args.synthetic} seed={args.seed} size={SYNTH_SIZE[1]}x{SYNTH_SIZE[0]}"
        if args.offset:
            dataset += f" offset={args.offset}"
    else:
        samples = coco_samples(args.coco, args.images, args.limit)
        dataset = f"coco {args.coco}"
    summary = evaluate(
        engine,
        samples,
        max_instances=args.max_instances,
        min_area=args.min_area,
        max_clicks=args.max_clicks,
        use_previous_mask=args.use_previous_mask,
        progress=not args.json,
    )
    result = {
        "engine": engine.engine_id,
        **summary.as_dict(),
        "dataset": dataset,
        "protocol": {
            "max_clicks": args.max_clicks,
            "max_instances_per_image": args.max_instances,
            "min_area_px": args.min_area,
            "previous_mask": args.use_previous_mask,
        },
    }
    if args.dump:
        Path(args.dump).write_text(
            json.dumps(
                {
                    "noc85": summary.noc85,
                    "noc90": summary.noc90,
                    "iou_1click": summary.iou_1click,
                    "ms_per_click": summary.ms_per_click,
                    "ms_embed": summary.ms_embed,
                    "images": summary.images,
                }
            )
        )
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Few-shot on a real site: base + N of site W's photos against training from nothing on W alone.

    python -m ml.experiments.fewshot.run --data /work/data/public_boxes --init <synthetic-only base> \\
        --out /work/runs/fewshot --json

Pure ``ml``. The data are the real captures of ``../shared/tools/build_public_boxes.py``, re-split by
site (:mod:`ml.experiments.fewshot.sites`): W's held-out videos are the test set.

1. **Base without W**: ``--init`` (a base that never saw W; the shipped seventh file saw only synthetic
   scenes) continued on the S and R captures beside fresh synthetic scenes, as the eighth base was
   trained (``ml/universal/configs/real_boxes_v8.yaml``), for ``base_steps`` steps.
2. **Base + N**: the product's fine-tune (``ml.universal.finetune.fine_tune``: frozen BatchNorm, AdamW,
   cosine schedule) on N W frames spread over the pool's videos, ``fine_tune_steps`` steps.
3. **Scratch + N**: the same network from random weights on N W frames (or all of the pool), trained as a
   base is (BatchNorm learning), ``scratch_steps`` steps, beside ``scratch_synthetic`` fresh synthetic
   scenes per epoch (the generator is free to every team, and box labels do not teach the interior map
   that splits touching cartons: without scenes a scratch model could not split a stack; 0 = W alone).

Every arm gets the same tuning effort: each learning rate of its grid is trained, the one with the best
box AP50 on W's val frames is kept, and only that checkpoint is scored on the test videos (box AP50,
class-agnostic, with a bootstrap interval over the test images). ``base_plus_n_to_match`` is the smallest
N (interpolated) at which base + N reaches scratch + all. Results are cached per run in
``out/runs.json``, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ml.experiments.fewshot.sites import write_site_splits
from ml.experiments.fleet.measures import labels_to_reach
from ml.universal.box_eval import checkpoint_boxes
from ml.universal.checkpoint import load_checkpoint
from ml.universal.coco_eval import ImageBoxes, box_figures, image_matches, pooled_ap50
from ml.universal.finetune import fine_tune
from ml.universal.train import train

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_PLOT = ROOT / "docs" / "fewshot_real.png"


@dataclass
class FewShotConfig:
    pool_sizes: tuple[int, ...] = (10, 30, 100, 300)
    scratch_sizes: tuple[str, ...] = ("all", "300", "100")  # "all" first: the yardstick
    # Sized for 2 shared CPU cores (2026-12-05: about 3 s a step at 320 px beside other work); a GPU
    # run should raise the steps and the input size (--base-steps ... --input-size 512).
    base_steps: int = 300
    fine_tune_steps: int = 100
    scratch_steps: int = 300
    # On box labels; 3e-4 and 1e-3 were far too large (docs/fewshot.md, "Diagnosis"), val chose 3e-5 (1e-4 once).
    fine_tune_lrs: tuple[float, ...] = (3e-5, 1e-4)
    scratch_lrs: tuple[float, ...] = (1e-3, 3e-3)
    base_lr: float = 6e-4  # real_boxes_v8.yaml
    base_synthetic: int = 400  # fresh synthetic scenes per epoch beside S and R
    # ... and beside W's frames in the scratch arms (0: W alone, as before 2026-12-06)
    scratch_synthetic: int = 400
    batch_size: int = 8
    input_size: int = 320
    val_every: int = 4
    threads: int = 2
    draws: int = 500
    seed: int = 29
    device: str = "auto"  # where training steps run: cuda where there is one (scoring stays on the CPU)


def _synthetic(count: int, seed: int) -> list[dict[str, Any]]:
    """A training data spec of ``count`` fresh synthetic scenes per epoch (none for 0), to list beside real photos."""
    return [{"synthetic": {"count": count, "seed": seed, "scene_size": 512}}] if count else []


def tiny_config() -> FewShotConfig:
    """A few steps and images: keeps the harness runnable in the tests, measures nothing."""
    return FewShotConfig(
        pool_sizes=(2, 4),
        scratch_sizes=("4", "all"),
        base_steps=2,
        fine_tune_steps=2,
        scratch_steps=2,
        fine_tune_lrs=(3e-4,),
        scratch_lrs=(1e-3,),
        base_synthetic=4,
        scratch_synthetic=2,
        batch_size=2,
        input_size=64,
        val_every=1,
        draws=20,
    )


def ap50_interval(images: list[ImageBoxes], draws: int, seed: int) -> dict[str, Any]:
    """Class-agnostic box AP50 of ``images`` and its 95% bootstrap interval (images resampled with
    replacement). Each image is matched once; a draw pools its images' matches and computes AP as
    COCOeval does (``coco_eval.box_figures`` gives the same point figure), so 500 draws take a second,
    not the minutes of 500 COCOeval runs."""
    per_image = [image_matches(img) for img in images]
    rng = np.random.default_rng(seed)
    values = [pooled_ap50(per_image, rng.integers(0, len(images), size=len(images))) for _ in range(draws)]
    low, high = np.percentile(values, [2.5, 97.5])
    return {
        "box_ap50": round(pooled_ap50(per_image, range(len(images))), 4),
        "low": round(float(low), 4),
        "high": round(float(high), 4),
        "images": len(images),
    }


class Experiment:
    """The runs of one experiment folder; each run's result is cached in ``runs.json``."""

    def __init__(self, cfg: FewShotConfig, data: Path, init: Path, out: Path, log=print):
        self.cfg, self.data, self.init, self.out, self.log = cfg, data, init, out, log
        self.splits = out / "splits"
        self.cache_path = out / "runs.json"
        self.cache: dict[str, Any] = (
            json.loads(self.cache_path.read_text()) if self.cache_path.exists() else {}
        )

    def _cached(self, name: str, make) -> dict[str, Any]:
        if name not in self.cache:
            started = time.perf_counter()
            self.cache[name] = {**make(), "seconds": round(time.perf_counter() - started, 1)}
            self.cache_path.write_text(json.dumps(self.cache, indent=1))
            self.log(f"[fewshot] {name}: {self.cache[name]}")
        return self.cache[name]

    def score(self, checkpoint: Path, coco: str) -> list[ImageBoxes]:
        return checkpoint_boxes(checkpoint, self.splits / coco, self.data)

    def base(self) -> Path:
        path = self.out / "base_without_w.pt"

        def make() -> dict[str, Any]:
            cfg = self.cfg
            result = train(
                {
                    "init": str(self.init),
                    "input_size": cfg.input_size,
                    "data": [
                        {"boxes": self._boxes("base_train.json")},
                        *_synthetic(cfg.base_synthetic, seed=8_000_000),
                    ],
                    "epochs": 100_000,
                    "steps": cfg.base_steps,
                    "batch_size": cfg.batch_size,
                    "lr": cfg.base_lr,
                    "contact_weight": 5.0,
                    "out": str(path),
                    "work_dir": str(self.out / "base_work"),
                    "seed": cfg.seed,
                    "threads": cfg.threads,
                    "precision": "auto",
                    "device": cfg.device,
                }
            )
            return {"steps": result["steps"], "train_seconds": result["train_seconds"]}

        self._cached("base_without_w", make)
        return path

    def _boxes(self, coco: str) -> dict[str, Any]:
        return {
            "coco": str(self.splits / coco),
            "source_map": str(self.data / "source_map.csv"),
            "images_dir": str(self.data),
        }

    def arm(self, kind: str, size: str, base: Path | None) -> dict[str, Any]:
        """One arm: every learning rate of its grid trained and scored on val; the best one on test."""
        cfg = self.cfg
        lrs = cfg.fine_tune_lrs if kind == "base" else cfg.scratch_lrs
        tried = {
            lr: self._cached(f"{kind}+{size}@{lr:g}", lambda lr=lr: self._train(kind, size, base, lr))
            for lr in lrs
        }
        best = max(lrs, key=lambda lr: tried[lr]["val_box_ap50"])
        checkpoint = self.out / "checkpoints" / f"{kind}_{size}_{best:g}.pt"
        test = self._cached(
            f"{kind}+{size}:test",
            lambda: {"lr": best, **ap50_interval(self.score(checkpoint, "w_test.json"), cfg.draws, cfg.seed)},
        )
        return {
            "kind": kind,
            "n": size,
            "val_by_lr": {f"{lr:g}": tried[lr]["val_box_ap50"] for lr in lrs},
            **test,
        }

    def _train(self, kind: str, size: str, base: Path | None, lr: float) -> dict[str, Any]:
        cfg = self.cfg
        out = self.out / "checkpoints" / f"{kind}_{size}_{lr:g}.pt"
        out.parent.mkdir(parents=True, exist_ok=True)
        coco = self.splits / f"w_{size}.json"
        if base is not None:  # base + N
            result = fine_tune(
                base,
                coco,
                None,
                out,
                budget_seconds=float("inf"),
                steps=cfg.fine_tune_steps,
                images_dir=self.data,
                batch_size=cfg.batch_size,
                lr=lr,
                seed=cfg.seed,
                threads=cfg.threads,
                precision="auto",
                boxes_source_map=self.data / "source_map.csv",
                device=cfg.device,
            )
        else:
            _, meta = load_checkpoint(self.init)
            result = train(
                {
                    "architecture": meta["architecture"],
                    "input_size": cfg.input_size,
                    "data": [
                        {"boxes": self._boxes(f"w_{size}.json")},
                        *_synthetic(cfg.scratch_synthetic, seed=8_500_000),
                    ],
                    "epochs": 100_000,
                    "steps": cfg.scratch_steps,
                    "batch_size": cfg.batch_size,
                    "lr": lr,
                    "contact_weight": 5.0,
                    "out": str(out),
                    "seed": cfg.seed,
                    "threads": cfg.threads,
                    "precision": "auto",
                    "device": cfg.device,
                }
            )
        val = box_figures(self.score(out, "w_val.json"), threshold=0.0)["box_ap50"]
        return {"val_box_ap50": val, "steps": result["steps"], "train_seconds": result["train_seconds"]}

    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        counts = write_site_splits(
            self.data,
            self.splits,
            pool_sizes=tuple(sorted({*cfg.pool_sizes, *(int(s) for s in cfg.scratch_sizes if s != "all")})),
            val_every=cfg.val_every,
        )
        self.log(f"[fewshot] splits: {counts}")
        base = self.base()
        base_test = self._cached(
            "base+0:test", lambda: ap50_interval(self.score(base, "w_test.json"), cfg.draws, cfg.seed)
        )
        rows = [{"kind": "base", "n": "0", **base_test}]
        rows += [self.arm("base", str(n), base) for n in cfg.pool_sizes]
        rows += [self.arm("scratch", size, None) for size in cfg.scratch_sizes]
        report: dict[str, Any] = {"config": asdict(cfg), "splits": counts, "rows": rows}
        scratch_all = next((r for r in rows if r["kind"] == "scratch" and r["n"] == "all"), None)
        if scratch_all is None:  # a run of the base arms only (--scratch-sizes with none)
            return report
        curve = [{"labels": int(r["n"]), "box_ap50": r["box_ap50"]} for r in rows if r["kind"] == "base"]
        base_100 = next((r for r in rows if r["kind"] == "base" and r["n"] == "100"), None)
        return {
            **report,
            "scratch_all": {"n": counts["w_pool"], "box_ap50": scratch_all["box_ap50"]},
            "base_plus_n_to_match": labels_to_reach(curve, scratch_all["box_ap50"], key="box_ap50"),
            "target_base_plus_100_ge_scratch_all": None
            if base_100 is None
            else base_100["box_ap50"] >= scratch_all["box_ap50"],
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="build_public_boxes.py's output folder")
    parser.add_argument("--init", type=Path, required=True, help="a base that never saw site W")
    parser.add_argument("--out", type=Path, required=True, help="experiment folder (resumable)")
    parser.add_argument("--plot", type=Path, default=DEFAULT_PLOT)
    parser.add_argument("--tiny", action="store_true", help="a few steps and images: checks the harness runs")
    parser.add_argument("--base-steps", type=int)
    parser.add_argument("--fine-tune-steps", type=int)
    parser.add_argument("--scratch-steps", type=int)
    parser.add_argument("--input-size", type=int)
    parser.add_argument(
        "--fine-tune-lrs", type=float, nargs="+", help="the base + N arms' learning-rate grid"
    )
    parser.add_argument(
        "--scratch-sizes",
        nargs="*",
        help="the scratch arms' sizes ('all' and pool sizes); none: the base arms only, no comparison",
    )
    parser.add_argument("--threads", type=int, help="torch threads per training run")
    parser.add_argument(
        "--scratch-synthetic", type=int, help="synthetic scenes per epoch in scratch arms (0: none)"
    )
    parser.add_argument("--device", help="where training steps run: cpu, cuda or auto (default)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cfg = tiny_config() if args.tiny else FewShotConfig()
    for name in (
        "base_steps",
        "fine_tune_steps",
        "scratch_steps",
        "input_size",
        "threads",
        "scratch_synthetic",
        "device",
    ):
        if getattr(args, name) is not None:
            setattr(cfg, name, getattr(args, name))
    if args.fine_tune_lrs:
        cfg.fine_tune_lrs = tuple(args.fine_tune_lrs)
    if args.scratch_sizes is not None:
        cfg.scratch_sizes = tuple(args.scratch_sizes)
    args.out.mkdir(parents=True, exist_ok=True)
    report = Experiment(cfg, args.data, args.init, args.out).run()
    if not args.tiny:
        from ml.experiments.fewshot.plot import draw_plot

        draw_plot(report, args.plot)
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report) if args.json else json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

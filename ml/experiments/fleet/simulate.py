"""The fleet proof: three teams arrive in turn; each fine-tunes from the current base and contributes.

    python -m ml.experiments.fleet.simulate --json            # the full run
    python -m ml.experiments.fleet.simulate --json --quick    # <= 15 min on 2 shared CPU cores

Pure ``ml``. Base v1 is trained from scratch on plain synthetic scenes (all four domains).
Teams arrive one after another (team1 conveyor_topdown, team2 tote_oblique, team3 floor_pile),
each with labelled scenes of its domain seen through its own site camera (:mod:`ml.experiments.fleet.teams`).
A team fine-tunes from the current base (fixed optimiser steps, its labels only) and
contributes its labels; then the base is retrained (:func:`ml.fleet.base.retrain_base`) from
the current base on synthetic replay plus every contribution so far: v1 → v2 → v3 → v4.

Measured:

* ``label_efficiency``: team 3 fine-tuned from base v3 and from base v1 with 1/4, 1/2 and all
  of its labels (same steps each). ``target`` = AP from v1 with all labels; ``labels_to_target``
  per base = the fewest labels (curve linearly interpolated) at which it reaches the target.
* ``forgetting``: every base on the synthetic held-out set and every team's val split;
  each base must be at least as good as the one before (within ``tolerance``) on the synthetic
  set and on the domains of teams whose data the previous base already had.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ml.experiments.fleet.plot import draw_plot
from ml.experiments.fleet.teams import TEAMS, write_team_split
from ml.fleet.base import retrain_base
from ml.fleet.data import CocoSource, write_synthetic
from ml.universal.data import coco_first_n, load_coco
from ml.universal.evaluate import evaluate_checkpoint
from ml.universal.train import train

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_PLOT = ROOT / "docs" / "fleet.png"
SYNTHETIC = "synthetic"


@dataclass
class FleetConfig:
    scene_size: int = 160  # rendered and seen at this size (px, square)
    architecture: str = "unet_xs"
    synthetic_train: int = 320
    synthetic_val: int = 40
    team_labels: int = 48  # labelled train scenes per team
    team_val: int = 24
    v1_steps: int = 700  # base v1 from scratch
    base_steps: int = 300  # each base retraining
    fine_tune_steps: int = 100  # each team fine-tune (any label count)
    synthetic_replay: int = 96  # synthetic scenes mixed into each base retraining
    batch_size: int = 8
    tolerance: float = 0.02
    seed: int = 11
    threads: int = 1  # the machine is shared; one thread per process wastes least


QUICK = FleetConfig(
    scene_size=128,
    synthetic_train=160,
    synthetic_val=24,
    team_labels=24,
    team_val=16,
    v1_steps=320,
    base_steps=140,
    fine_tune_steps=50,
    synthetic_replay=48,
)


def _steps_config(
    init: Path | None, train_coco: Path, val_coco: Path, out: Path, steps: int, lr: float, cfg: FleetConfig
) -> dict[str, Any]:
    n = len(load_coco(train_coco)["images"])
    batch = max(1, min(cfg.batch_size, n))
    return {
        "init": str(init) if init else None,
        "architecture": cfg.architecture,
        "input_size": cfg.scene_size,
        "data": {"coco": str(train_coco)},
        "val": {"coco": str(val_coco)},
        "epochs": max(1, math.ceil(steps / max(n // batch, 1))),
        "batch_size": batch,
        "lr": lr,
        "budget_seconds": None,
        "out": str(out),
        "seed": cfg.seed,
        "threads": cfg.threads,
    }


def fine_tune_steps(init: Path, train_coco: Path, val_coco: Path, out: Path, cfg: FleetConfig) -> float:
    """A team's fine-tune: ``cfg.fine_tune_steps`` steps from ``init``; returns mask AP on ``val_coco``."""
    return float(
        train(_steps_config(init, train_coco, val_coco, out, cfg.fine_tune_steps, 1e-3, cfg))["mask_ap"]
    )


def labels_to_reach(curve: list[dict[str, float]], target: float, key: str = "mask_ap") -> float | None:
    """Fewest labels at which a (labels, ``key``) curve reaches ``target``, linearly interpolated."""
    prev = None
    for point in curve:
        if point[key] >= target:
            if prev is None or point[key] == prev[key]:
                return float(point["labels"])
            frac = (target - prev[key]) / (point[key] - prev[key])
            return round(prev["labels"] + frac * (point["labels"] - prev["labels"]), 2)
        prev = point
    return None


def simulate(cfg: FleetConfig, plot: Path | None, workdir: Path | None = None, log=print) -> dict[str, Any]:
    started = time.perf_counter()
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="fleet-")) if workdir is None else workdir
    work.mkdir(parents=True, exist_ok=True)
    try:
        log(f"[fleet] writing data under {work}")
        synth_train = write_synthetic(
            work / "synthetic_train",
            count=cfg.synthetic_train,
            seed=cfg.seed * 7,
            size=cfg.scene_size,
            domains=("all",),
        )
        replay = write_synthetic(
            work / "synthetic_replay",
            count=cfg.synthetic_replay,
            seed=cfg.seed * 7 + 1,
            size=cfg.scene_size,
            domains=("all",),
        )
        synth_val = write_synthetic(
            work / "synthetic_val",
            count=cfg.synthetic_val,
            seed=cfg.seed * 7 + 2,
            size=cfg.scene_size,
            domains=("all",),
        ).coco
        team_train, team_val = {}, {}
        for k, team in enumerate(TEAMS):
            team_train[team.name] = write_team_split(
                team,
                work / team.name / "train",
                count=cfg.team_labels,
                seed=cfg.seed * 100 + 2 * k,
                size=cfg.scene_size,
            )
            team_val[team.name] = write_team_split(
                team,
                work / team.name / "val",
                count=cfg.team_val,
                seed=cfg.seed * 100 + 2 * k + 1,
                size=cfg.scene_size,
            )
        eval_sets = {SYNTHETIC: synth_val, **team_val}

        log("[fleet] base v1: from scratch on synthetic scenes")
        bases = [work / "base_v1.pt"]
        train(_steps_config(None, synth_train.coco, synth_val, bases[0], cfg.v1_steps, 3e-3, cfg))
        teams_report, contributed = [], []
        for k, team in enumerate(TEAMS):
            base = bases[-1]
            log(f"[fleet] {team.name} ({team.domain}) fine-tunes from base v{k + 1}")
            zero_shot = float(evaluate_checkpoint(base, team_val[team.name])["mask_ap"])
            tuned = fine_tune_steps(
                base, team_train[team.name], team_val[team.name], work / f"{team.name}_from_v{k + 1}.pt", cfg
            )
            teams_report.append(
                {
                    "team": team.name,
                    "domain": team.domain,
                    "base": f"v{k + 1}",
                    "labels": cfg.team_labels,
                    "base_ap": round(zero_shot, 4),
                    "fine_tuned_ap": round(tuned, 4),
                }
            )
            contributed.append(CocoSource(team_train[team.name], team.name))
            log(
                f"[fleet] base v{k + 2}: v{k + 1} + synthetic replay + {', '.join(s.name for s in contributed)}"
            )
            bases.append(work / f"base_v{k + 2}.pt")
            retrain_base(
                base,
                [CocoSource(replay.coco, SYNTHETIC), *contributed],
                synth_val,
                bases[-1],
                work_dir=work / f"base_v{k + 2}_data",
                steps=cfg.base_steps,
                batch_size=cfg.batch_size,
                seed=cfg.seed,
                threads=cfg.threads,
            )

        log("[fleet] every base on every evaluation set")
        matrix = {
            f"v{i + 1}": {
                name: round(float(evaluate_checkpoint(path, coco)["mask_ap"]), 4)
                for name, coco in eval_sets.items()
            }
            for i, path in enumerate(bases)
        }
        forgetting = []
        for i in range(1, len(bases)):
            prev, cur = f"v{i}", f"v{i + 1}"
            checked = [SYNTHETIC, *[t.name for t in TEAMS[: i - 1]]]  # what the previous base already knew
            for name in checked:
                delta = round(matrix[cur][name] - matrix[prev][name], 4)
                forgetting.append(
                    {
                        "from": prev,
                        "to": cur,
                        "set": name,
                        "before": matrix[prev][name],
                        "after": matrix[cur][name],
                        "delta": delta,
                        "ok": delta >= -cfg.tolerance,
                    }
                )

        team3 = TEAMS[2]
        counts = sorted({max(1, cfg.team_labels // 4), max(1, cfg.team_labels // 2), cfg.team_labels})
        curves: dict[str, list[dict[str, float]]] = {}
        for label in ("v1", "v3"):
            base = bases[int(label[1:]) - 1]
            curves[label] = []
            for n in counts:
                log(f"[fleet] {team3.name} from base {label} with {n} labels")
                subset = coco_first_n(team_train[team3.name], n, work / f"{team3.name}_first{n}.json")
                ap = fine_tune_steps(
                    base, subset, team_val[team3.name], work / f"{team3.name}_{label}_{n}.pt", cfg
                )
                curves[label].append({"labels": n, "mask_ap": round(ap, 4)})
        target = curves["v1"][-1]["mask_ap"]
        needed = {label: labels_to_reach(curve, target) for label, curve in curves.items()}
        fewer = needed["v3"] is not None and needed["v1"] is not None and needed["v3"] < needed["v1"]

        report: dict[str, Any] = {
            "config": asdict(cfg),
            "teams": teams_report,
            "bases": matrix,
            "forgetting": forgetting,
            "no_forgetting": all(row["ok"] for row in forgetting),
            "label_efficiency": {
                "team": team3.name,
                "domain": team3.domain,
                "curves": curves,
                "target": target,
                "labels_to_target": needed,
                "fewer_labels_from_v3": fewer,
            },
            "wall_seconds": round(time.perf_counter() - started, 1),
        }
        if plot is not None:
            report["plot"] = str(draw_plot(report, plot))
        return report
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


def format_table(report: dict[str, Any]) -> str:
    sets = list(next(iter(report["bases"].values())))
    lines = [
        "mask AP of each base version (rows) on each evaluation set (columns)",
        f"{'base':<6}" + "".join(f"{name:>12}" for name in sets),
    ]
    for version, row in report["bases"].items():
        lines.append(f"{version:<6}" + "".join(f"{row[name]:>12.4f}" for name in sets))
    lines.append("")
    lines.append(f"{'team':<7}{'domain':<18}{'from':<6}{'labels':>7}{'base AP':>10}{'tuned AP':>10}")
    for t in report["teams"]:
        lines.append(
            f"{t['team']:<7}{t['domain']:<18}{t['base']:<6}{t['labels']:>7}{t['base_ap']:>10.4f}"
            f"{t['fine_tuned_ap']:>10.4f}"
        )
    eff = report["label_efficiency"]
    lines.append("")
    lines.append(f"{eff['team']} fine-tuned with N labels: mask AP from base v1 vs v3")
    for a, b in zip(eff["curves"]["v1"], eff["curves"]["v3"], strict=True):
        lines.append(f"  N={a['labels']:>4}   v1 {a['mask_ap']:.4f}   v3 {b['mask_ap']:.4f}")
    lines.append(
        f"  target (v1, all labels) {eff['target']:.4f}; labels to reach it: {eff['labels_to_target']}; "
        f"fewer from v3: {eff['fewer_labels_from_v3']}"
    )
    bad = [
        f"{r['from']}->{r['to']} {r['set']} {r['delta']:+.4f}" for r in report["forgetting"] if not r["ok"]
    ]
    lines.append(
        f"no forgetting beyond {report['config']['tolerance']}: {report['no_forgetting']}"
        + (f" (violations: {', '.join(bad)})" if bad else "")
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import sys

    parser = argparse.ArgumentParser(description="Three teams, one universal base retrained after each.")
    parser.add_argument(
        "--quick", action="store_true", help="a smaller run (<= 15 min on 2 shared CPU cores)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the report as one JSON object (table on stderr)"
    )
    parser.add_argument("--plot", default=str(DEFAULT_PLOT), help="PNG to write ('' for none)")
    parser.add_argument("--workdir", default=None, help="keep datasets and checkpoints here")
    for name, value in asdict(FleetConfig()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=None)
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FleetConfig()
    overrides = {k: v for k, v in vars(args).items() if k in asdict(cfg) and v is not None}
    cfg = FleetConfig(**{**asdict(cfg), **overrides})
    log = (lambda msg: print(msg, file=sys.stderr, flush=True)) if args.json else print
    report = simulate(
        cfg, Path(args.plot) if args.plot else None, Path(args.workdir) if args.workdir else None, log
    )
    if args.json:
        print(format_table(report), file=sys.stderr)
        print(json.dumps(report))
    else:
        print(format_table(report))


if __name__ == "__main__":
    main()

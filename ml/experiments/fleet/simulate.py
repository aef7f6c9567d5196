"""The fleet proof: three teams arrive in turn; each fine-tunes from the current base and contributes.

    python -m ml.experiments.fleet.simulate --json            # the full run
    python -m ml.experiments.fleet.simulate --json --quick    # <= 15 min on 2 shared CPU cores
    python -m ml.experiments.fleet.simulate --json --real /work/data/public_boxes --init BASE.pt  # real teams

With ``--real`` the teams are real sites labelled with boxes, scored with box AP50 and base v1 is ``--init``
(:mod:`ml.experiments.fleet.real`); what follows is the synthetic proof.

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
  With ``--real`` also ``paired_bootstrap`` (:func:`ml.experiments.fleet.measures.label_reduction_interval`):
  the saving's interval, every curve point scored on the same resampled val images.
* ``forgetting``: every base on the synthetic held-out set and every team's val split;
  each base must be at least as good as the one before (within ``tolerance``) on the synthetic
  set and on the domains of teams whose data the previous base already had.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ml.experiments.fleet.config import (
    QUICK,
    REAL,
    REAL_TINY,
    SYNTHETIC,
    FleetConfig,
    RealFleetConfig,
    steps_config,
)
from ml.experiments.fleet.measures import forgetting, labels_to_reach
from ml.experiments.fleet.plot import draw_plot
from ml.experiments.fleet.teams import TEAMS, write_team_split
from ml.fleet.base import retrain_base
from ml.fleet.data import CocoSource, write_synthetic
from ml.universal.data import coco_first_n
from ml.universal.evaluate import evaluate_checkpoint
from ml.universal.train import train

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_PLOT = ROOT / "docs" / "fleet.png"
REAL_PLOT = ROOT / "docs" / "fleet_real.png"


def fine_tune_steps(init: Path, train_coco: Path, val_coco: Path, out: Path, cfg: FleetConfig) -> float:
    """A team's fine-tune: ``cfg.fine_tune_steps`` steps from ``init``; returns mask AP on ``val_coco``."""
    return float(
        train(steps_config(init, train_coco, val_coco, out, cfg.fine_tune_steps, 1e-3, cfg))["mask_ap"]
    )


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
        train(steps_config(None, synth_train.coco, synth_val, bases[0], cfg.v1_steps, 3e-3, cfg))
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
        rows = forgetting(matrix, [SYNTHETIC], [t.name for t in TEAMS], cfg.tolerance)

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
            "forgetting": rows,
            "no_forgetting": all(row["ok"] for row in rows),
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
    eff = report["label_efficiency"]
    key = eff.get("key", "mask_ap")  # the real teams' runs: box AP50
    metric = "box AP50" if key == "box_ap50" else "mask AP"
    sets = list(next(iter(report["bases"].values())))
    lines = [
        f"{'AP (synthetic: mask AP; teams: box AP50)' if key == 'box_ap50' else 'mask AP'} of each base version "
        "(rows) on each evaluation set (columns)",
        f"{'base':<6}" + "".join(f"{name:>12}" for name in sets),
    ]
    for version, row in report["bases"].items():
        lines.append(f"{version:<6}" + "".join(f"{row[name]:>12.4f}" for name in sets))
    for version, chosen in report.get("blends", {}).items():  # the real teams' runs average each new base
        lines.append(
            f"{version} = {chosen['alpha']:g} x retrained + {1 - chosen['alpha']:g} x previous "
            f"(gate means by alpha: {chosen['means']})"
        )
    lines.append("")
    w = max(18, 2 + max(len(t["domain"]) for t in report["teams"]))
    lines.append(f"{'team':<7}{'domain':<{w}}{'from':<6}{'labels':>7}{'base AP':>10}{'tuned AP':>10}")
    for t in report["teams"]:
        lines.append(
            f"{t['team']:<7}{t['domain']:<{w}}{t['base']:<6}{t['labels']:>7}{t['base_ap']:>10.4f}"
            f"{t['fine_tuned_ap']:>10.4f}"
        )
    lines.append("")
    lines.append(f"{eff['team']} fine-tuned with N labels: {metric} from base v1 vs v3")
    for a, b in zip(eff["curves"]["v1"], eff["curves"]["v3"], strict=True):
        lines.append(f"  N={a['labels']:>4}   v1 {a[key]:.4f}   v3 {b[key]:.4f}")
    lines.append(
        f"  target (v1, all labels) {eff['target']:.4f}; labels to reach it: {eff['labels_to_target']}; "
        f"fewer from v3: {eff['fewer_labels_from_v3']}"
    )
    paired = eff.get("paired_bootstrap")  # the real teams' runs
    if paired:
        lines.append(
            f"  label saving from v3 {paired['reduction']} (95% paired bootstrap {paired['low']} to {paired['high']}, "
            f"{paired['draws']} draws over {paired['images']} images; None: v3 never reaches the target; "
            f"share of draws saving >= 0 / 0.3: {paired['share_at_least']})"
        )
    bad = [
        f"{r['from']}->{r['to']} {r['set']} {r['delta']:+.4f}" for r in report["forgetting"] if not r["ok"]
    ]
    lines.append(
        f"no forgetting beyond {report['config']['tolerance']}: {report['no_forgetting']}"
        + (f" (violations: {', '.join(bad)})" if bad else "")
    )
    return "\n".join(lines)


def yes_no(text: str) -> bool:
    """A yes/no flag's value (``bool("false")`` would be true)."""
    answers = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
    if text.lower() not in answers:
        raise argparse.ArgumentTypeError(f"expected yes or no (1 / 0, true / false), got {text!r}")
    return answers[text.lower()]


def main(argv: list[str] | None = None) -> None:
    import sys

    parser = argparse.ArgumentParser(description="Three teams, one universal base retrained after each.")
    parser.add_argument(
        "--quick", action="store_true", help="a smaller run (<= 15 min on 2 shared CPU cores)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the report as one JSON object (table on stderr)"
    )
    parser.add_argument(
        "--plot",
        default=None,
        help=f"PNG to write ('' for none; default {DEFAULT_PLOT.name}, real: {REAL_PLOT.name})",
    )
    parser.add_argument("--workdir", default=None, help="keep datasets and checkpoints here")
    parser.add_argument("--real", default=None, help="real teams S, R, W from build_public_boxes.py's folder")
    parser.add_argument("--init", default=None, help="with --real: base v1 (default: trained from scratch)")
    parser.add_argument("--tiny", action="store_true", help="with --real: a few images and steps (no plot)")
    fields = asdict(RealFleetConfig())
    for name, value in fields.items():
        kind = yes_no if isinstance(value, bool) else type(value)
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None)
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    log = (lambda msg: print(msg, file=sys.stderr, flush=True)) if args.json else print
    workdir = Path(args.workdir) if args.workdir else None
    if args.real:
        from ml.experiments.fleet.real import simulate_real

        real = RealFleetConfig(**{**asdict(REAL_TINY if args.tiny else REAL), **overrides})
        plot = args.plot if args.plot is not None else ("" if args.tiny else str(REAL_PLOT))
        init = Path(args.init) if args.init else None
        report = simulate_real(real, Path(args.real), init, Path(plot) if plot else None, workdir, log)
    else:
        real_only = sorted(set(overrides) - set(asdict(FleetConfig())))
        if args.init or args.tiny or real_only:
            parser.error(f"--init, --tiny and {', '.join(real_only) or 'the real-only settings'} need --real")
        cfg = QUICK if args.quick else FleetConfig()
        cfg = FleetConfig(**{**asdict(cfg), **overrides})
        plot = args.plot if args.plot is not None else str(DEFAULT_PLOT)
        report = simulate(cfg, Path(plot) if plot else None, workdir, log)
    if args.json:
        print(format_table(report), file=sys.stderr)
        print(json.dumps(report))
    else:
        print(format_table(report))


if __name__ == "__main__":
    main()

"""The fleet proof on real teams: team 1 = site S, team 2 = site R, team 3 = site W, each labelled with boxes.

    python -m ml.experiments.fleet.simulate --real /work/data/public_boxes --init BASE.pt --workdir DIR --json
    python -m ml.experiments.fleet.simulate --real /work/data/public_boxes --init BASE.pt --tiny --json

Pure ``ml``. The sites are the real captures of ``../shared/tools/build_public_boxes.py``
(:mod:`ml.experiments.fewshot.sites`):

* **team1 = S** (shops and stores): labels = its captures of the shipped train split; val = its captures of the
  shipped val and test splits (other bursts: the shipped split holds whole series out);
* **team2 = R** (the greyscale rig, 19 photos, all in the shipped val split): every ``r_val_every``-th photo in
  file-name order is its val, the rest its labels;
* **team3 = W** (five warehouse videos): labels = the pool videos; val = the held-out test videos
  (``fewshot.sites.W_TEST_VIDEOS``), the whole videos no frame of the pool is near.

Base v1 is a given checkpoint (``--init``, e.g. the seventh, synthetic-only base: it saw none of the sites) set
to see photos at ``input_size``; without ``--init`` it is trained from scratch on synthetic scenes as in the
synthetic proof. Each team fine-tunes from the current base with the product's recipe
(``ml.universal.finetune.fine_tune`` on boxes, ``BoxDataset``) and contributes its labels; the next base is the
current one retrained (:func:`ml.fleet.base.retrain_base`) on synthetic replay scenes (masks) plus every
contribution so far (boxes; by the preset positives only, BatchNorm kept, at the fine-tunes' rate), then averaged with the current one at the alpha the gate's sets prefer
(:func:`ml.fleet.base.blend_with_previous`). Teams are scored with class-agnostic box AP50 on their val split
(``ml.universal.box_eval.box_ap50``), the synthetic held-out scenes with mask AP as in the synthetic proof.
Checkpoints and scores already in ``--workdir`` are kept, so a run cut short resumes where it stopped.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ml.experiments.fewshot.sites import evenly_spaced, read_captures, site_of, write_coco, write_site_splits
from ml.experiments.fleet.config import SYNTHETIC, RealFleetConfig, steps_config
from ml.experiments.fleet.matches import keep_matches, load_matches
from ml.experiments.fleet.measures import forgetting, label_reduction_interval, labels_to_reach
from ml.experiments.fleet.plot import draw_plot
from ml.fleet.base import blend_with_previous, retrain_base
from ml.fleet.data import BoxSource, CocoSource, write_synthetic
from ml.universal.box_eval import checkpoint_boxes, images_ap50
from ml.universal.checkpoint import load_checkpoint, save_checkpoint
from ml.universal.coco_eval import ImageMatches
from ml.universal.data import load_coco
from ml.universal.evaluate import evaluate_checkpoint
from ml.universal.finetune import fine_tune
from ml.universal.train import train

TEAM_SITES = (("team1", "S"), ("team2", "R"), ("team3", "W"))
SITE_NAMES = {"S": "S: shops and stores", "R": "R: greyscale rig", "W": "W: warehouse videos"}
TARGET_REDUCTION = 0.30  # issue 29: team 3 needs >= 30 % fewer labels from base v3 than from base v1


@dataclass(frozen=True)
class RealTeam:
    name: str
    site: str
    labels: Path  # COCO boxes; file names relative to the data folder
    val: Path


def write_real_teams(data: Path, out: Path, cfg: RealFleetConfig) -> list[RealTeam]:
    """The three teams' label and val files in ``out`` (see the module doc), capped by ``team_labels`` /
    ``team_val`` (spread evenly; 0: all)."""
    images, annotations, categories = read_captures(data)
    write_site_splits(data, out / "w", pool_sizes=(), val_every=cfg.w_val_every)
    site: dict[str, list[dict[str, Any]]] = {"S": [], "R": []}
    for img in images:
        code = site_of(img["series"])
        if code in site:
            site[str(code)].append(img)
    rig = sorted(site["R"], key=lambda img: img["file_name"])
    splits = {
        "S": (
            [img for img in site["S"] if img["shipped_split"] == "train"],
            [img for img in site["S"] if img["shipped_split"] != "train"],
        ),
        "R": ([img for k, img in enumerate(rig) if k % cfg.r_val_every], rig[:: cfg.r_val_every]),
        "W": tuple(load_coco(out / "w" / name)["images"] for name in ("w_all.json", "w_test.json")),
    }
    teams = []
    for name, code in TEAM_SITES:
        labels, val = splits[code]
        labels = evenly_spaced(labels, cfg.team_labels) if cfg.team_labels else labels
        val = evenly_spaced(val, cfg.team_val) if cfg.team_val else val
        if not labels or not val:
            raise ValueError(
                f"site {code} gives {len(labels)} labelled and {len(val)} val captures in {data}"
            )
        teams.append(
            RealTeam(
                name,
                code,
                write_coco(out / f"{name}_labels.json", labels, annotations, categories),
                write_coco(out / f"{name}_val.json", val, annotations, categories),
            )
        )
    return teams


def base_v1(cfg: RealFleetConfig, init: Path | None, synth_val: Path, work: Path) -> Path:
    """``init`` set to see photos at ``input_size`` (same weights), or a base trained from scratch on synthetic
    scenes for ``v1_steps`` steps."""
    path = work / "base_v1.pt"
    if path.is_file():
        return path
    if init is not None:
        model, meta = load_checkpoint(init)
        return save_checkpoint(path, model, {**meta, "input_size": cfg.input_size or meta["input_size"]})
    synth_train = write_synthetic(
        work / "synthetic_train", count=cfg.synthetic_train, seed=cfg.seed * 7, size=cfg.scene_size
    )
    config = steps_config(None, synth_train.coco, synth_val, path, cfg.v1_steps, 3e-3, cfg)
    config.update(input_size=cfg.input_size or cfg.scene_size, precision=cfg.precision, device=cfg.device)
    train(config)
    return path


class RealFleet:
    """One real-teams run in ``work``: its teams, bases and fine-tunes; every AP is computed once."""

    def __init__(self, cfg: RealFleetConfig, data: Path, work: Path, log=print):
        self.cfg, self.data, self.work, self.log = cfg, data, work, log
        self.source_map = data / "source_map.csv"
        self.scores_path = work / "scores.json"  # a checkpoint in work is never rewritten: its scores hold
        self.scores: dict[str, float] = (
            json.loads(self.scores_path.read_text()) if self.scores_path.is_file() else {}
        )

    def ap(self, checkpoint: Path, coco: Path, boxes: bool = True) -> float:
        """Box AP50 (a team's set) or mask AP (the synthetic set) of ``checkpoint`` on ``coco``."""
        # keyed by the set's path in work: the synthetic val and gate sets are both all/annotations.json
        coco = Path(coco)
        name = coco.relative_to(self.work) if coco.is_relative_to(self.work) else coco
        key = f"{Path(checkpoint).name} on {name}"
        if key not in self.scores:
            if boxes:  # one prediction gives the figure and the matches the bootstraps resample
                images = checkpoint_boxes(checkpoint, coco, self.data)
                keep_matches(self.work / "matches", checkpoint, coco, images)
                self.scores[key] = round(images_ap50(images), 4)
            else:
                self.scores[key] = round(float(evaluate_checkpoint(checkpoint, coco)["mask_ap"]), 4)
            self.scores_path.write_text(json.dumps(self.scores, indent=1))
        return self.scores[key]

    def matches(self, checkpoint: Path, coco: Path) -> list[ImageMatches]:
        """Each val image's matches for ``checkpoint``, kept in ``matches/`` when ``ap`` scored it."""
        return load_matches(self.work / "matches", checkpoint, coco, self.data)

    def tuned_path(self, version: str, team: RealTeam, n: int) -> Path:
        return self.work / f"{team.name}_from_{version}_{n}.pt"

    def tuned(self, base: Path, version: str, team: RealTeam, n: int) -> float:
        """Box AP50 on the team's val split after fine-tuning ``base`` on ``n`` of its labels (spread evenly)."""
        cfg = self.cfg
        out = self.tuned_path(version, team, n)
        if not out.is_file():
            coco = load_coco(team.labels)
            subset = write_coco(
                self.work / f"{team.name}_labels_{n}.json",
                evenly_spaced(coco["images"], n),
                coco["annotations"],
                coco["categories"],
            )
            fine_tune(
                base,
                subset,
                None,
                out,
                budget_seconds=float("inf"),
                steps=cfg.fine_tune_steps,
                images_dir=self.data,
                batch_size=cfg.batch_size,
                lr=cfg.lr,
                seed=cfg.seed,
                threads=cfg.threads,
                precision=cfg.precision,
                boxes_source_map=self.source_map,
                device=cfg.device,
            )
        return self.ap(out, team.val)

    def next_base(
        self,
        base: Path,
        version: int,
        replay: CocoSource,
        synth_val: Path,
        synth_gate: Path,
        gate: list[RealTeam],
    ) -> dict[str, Any]:
        """Base v``version``: ``base`` retrained on the replay scenes plus every contribution so far, then averaged
        with ``base`` (:func:`ml.fleet.base.blend_with_previous`), the alpha chosen on the gate's sets: the
        synthetic gate scenes (mask AP) and the contributing teams' val splits (box AP50), as the app's base
        runs gate on the synthetic held-out set and the contributing projects' val splits."""
        cfg, work = self.cfg, self.work
        retrained = work / f"base_v{version}_retrained.pt"
        if not retrained.is_file():
            retrain_base(
                base,
                [CocoSource(replay.coco, SYNTHETIC)],
                synth_val,
                retrained,
                work_dir=work / f"base_v{version}_data",
                steps=cfg.base_steps,
                batch_size=cfg.batch_size,
                lr=cfg.base_lr,
                seed=cfg.seed,
                threads=cfg.threads,
                box_sources=[
                    BoxSource(t.labels, t.name, self.source_map, self.data, cfg.base_box_background)
                    for t in gate
                ],
                precision=cfg.precision,
                device=cfg.device,
                freeze_batchnorm=cfg.base_freeze_batchnorm,
            )

        def gate_scores(path: Path) -> dict[str, float]:
            return {
                SYNTHETIC: self.ap(path, synth_gate, boxes=False),
                **{t.name: self.ap(path, t.val) for t in gate},
            }

        chosen = blend_with_previous(
            retrained,
            base,
            work / f"base_v{version}.pt",
            gate_scores,
            work_dir=work / f"base_v{version}_blends",
            grid=cfg.blend_grid,
        )
        (work / f"base_v{version}_blend.json").write_text(json.dumps(chosen, indent=1))
        self.log(f"[fleet] base v{version}: alpha {chosen['alpha']} (means {chosen['means']})")
        return chosen

    def run(self, init: Path | None) -> dict[str, Any]:
        cfg, work, log = self.cfg, self.work, self.log
        if cfg.generations not in (2, 3):
            raise ValueError(f"generations is 2 (bases v2, v3) or 3 (v2 to v4), not {cfg.generations}")
        teams = write_real_teams(self.data, work / "teams", cfg)
        sizes = {t.name: {"labels": _count(t.labels), "val": _count(t.val)} for t in teams}
        log(f"[fleet] real teams: {sizes}")
        synth_val = write_synthetic(
            work / "synthetic_val", count=cfg.synthetic_val, seed=cfg.seed * 7 + 2, size=cfg.scene_size
        ).coco
        replay = write_synthetic(
            work / "synthetic_replay", count=cfg.synthetic_replay, seed=cfg.seed * 7 + 1, size=cfg.scene_size
        )
        # the blends' alpha is chosen on a synthetic set of its own, so the synthetic figures below stay held out
        synth_gate = write_synthetic(
            work / "synthetic_gate", count=cfg.synthetic_val, seed=cfg.seed * 7 + 3, size=cfg.scene_size
        ).coco
        bases = [base_v1(cfg, init, synth_val, work)]
        teams_report: list[dict[str, Any]] = []
        blends: dict[str, Any] = {}
        for k, team in enumerate(teams):
            log(f"[fleet] {team.name} ({SITE_NAMES[team.site]}) fine-tunes from base v{k + 1}")
            teams_report.append(
                {
                    "team": team.name,
                    "domain": SITE_NAMES[team.site],
                    "base": f"v{k + 1}",
                    "labels": sizes[team.name]["labels"],
                    "base_ap": self.ap(bases[k], team.val),
                    "fine_tuned_ap": self.tuned(bases[k], f"v{k + 1}", team, sizes[team.name]["labels"]),
                }
            )
            if k >= cfg.generations:  # team 3's data reaches no base: v4 is not trained
                break
            log(
                f"[fleet] base v{k + 2}: v{k + 1} + synthetic replay + "
                f"{', '.join(t.name for t in teams[: k + 1])}, blended with v{k + 1}"
            )
            bases.append(work / f"base_v{k + 2}.pt")
            if not bases[-1].is_file():
                self.next_base(bases[k], k + 2, replay, synth_val, synth_gate, teams[: k + 1])
            blends[f"v{k + 2}"] = json.loads((work / f"base_v{k + 2}_blend.json").read_text())
        log("[fleet] every base on every evaluation set")
        matrix = {
            f"v{i + 1}": {
                SYNTHETIC: self.ap(path, synth_val, boxes=False),
                **{t.name: self.ap(path, t.val) for t in teams},
            }
            for i, path in enumerate(bases)
        }
        team3, n = teams[2], sizes[teams[2].name]["labels"]
        counts = sorted({max(1, n >> k) for k in range(cfg.curve_points)})
        curves = {  # from 0 labels (the base itself) to all of them, each count half the next
            version: [
                {"labels": 0, "box_ap50": matrix[version][team3.name]},
                *({"labels": c, "box_ap50": self.tuned(bases[i], version, team3, c)} for c in counts),
            ]
            for version, i in (
                ("v3", 2),
                ("v1", 0),
            )  # v3's first: v1's need no base run and can be made beside
        }
        curves = {"v1": curves["v1"], "v3": curves["v3"]}
        target = curves["v1"][-1]["box_ap50"]
        needed = {
            version: labels_to_reach(curve, target, key="box_ap50") for version, curve in curves.items()
        }
        reduction = (
            round(1.0 - needed["v3"] / needed["v1"], 4) if needed["v3"] is not None and needed["v1"] else None
        )
        log(f"[fleet] the saving's paired bootstrap over {team3.name}'s val images ({cfg.draws} draws)")
        points = {  # each curve point's checkpoint: the base itself at 0 labels
            version: [
                (
                    int(p["labels"]),
                    bases[i] if p["labels"] == 0 else self.tuned_path(version, team3, int(p["labels"])),
                )
                for p in curves[version]
            ]
            for version, i in (("v1", 0), ("v3", 2))
        }
        paired = label_reduction_interval(
            {v: [(n, self.matches(path, team3.val)) for n, path in row] for v, row in points.items()},
            draws=cfg.draws,
            seed=cfg.seed,
        )
        rows = forgetting(matrix, [SYNTHETIC], [t.name for t in teams], cfg.tolerance)
        versions = list(matrix)
        return {
            "mode": "real",
            "init": str(init) if init else None,
            "config": asdict(cfg),
            "teams_data": sizes,
            "teams": teams_report,
            "bases": matrix,
            "blends": blends,
            "metrics": {SYNTHETIC: "mask_ap", **{t.name: "box_ap50" for t in teams}},
            # every set after each generation, whether or not the earlier base had its data
            "ap_change": {
                f"{a}->{b}": {name: round(matrix[b][name] - matrix[a][name], 4) for name in matrix[a]}
                for a, b in zip(versions, versions[1:], strict=False)
            },
            "forgetting": rows,
            "no_forgetting": all(row["ok"] for row in rows),
            "label_efficiency": {
                "team": team3.name,
                "domain": SITE_NAMES[team3.site],
                "key": "box_ap50",
                "curves": curves,
                "target": target,
                "labels_to_target": needed,
                "fewer_labels_from_v3": needed["v3"] is not None
                and needed["v1"] is not None
                and needed["v3"] < needed["v1"],
                "label_reduction_from_v3": reduction,
                "meets_target": reduction is not None and reduction >= TARGET_REDUCTION,
                "paired_bootstrap": paired,
            },
        }


def _count(coco: Path) -> int:
    return len(json.loads(Path(coco).read_text())["images"])


def simulate_real(
    cfg: RealFleetConfig,
    data: Path,
    init: Path | None,
    plot: Path | None,
    workdir: Path | None = None,
    log=print,
) -> dict[str, Any]:
    """The real-teams run (module doc); ``workdir`` keeps its files (and resumes a run), else a temp folder."""
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="fleet-real-")) if workdir is None else workdir
    work.mkdir(parents=True, exist_ok=True)
    try:
        report = RealFleet(cfg, Path(data), work, log).run(init)
        report["wall_seconds"] = round(time.perf_counter() - started, 1)
        if plot is not None:
            report["plot"] = str(draw_plot(report, plot))
        return report
    finally:
        if workdir is None:
            shutil.rmtree(work, ignore_errors=True)

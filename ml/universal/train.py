"""Training the universal model from a config file (JSON or YAML).

    python -m ml.universal.train --config ml/universal/configs/base.yaml

Config keys (defaults in ``DEFAULTS``): ``architecture``, ``input_size`` (px, long side of the training crops),
``inference_size`` (optional: the long side the written checkpoint's predictor uses, e.g. 448 after
training on 512 px crops; default ``input_size``),
``data`` / ``val`` (``{"synthetic": {"count", "seed", "domains", "camera"}}`` or ``{"coco": FILE,
"images_dir": DIR}``; ``data`` may also be ``{"boxes": {"coco", "source_map", "subset", "repeat", "background",
"series_kinds", "zoom_out", "camera", "mosaic", "category"}}``,
real photos labelled with boxes (``data.BoxDataset``), or a list of specs, mixed), ``epochs``, ``steps`` (optional: this many optimizer steps in all,
however many epochs that takes; the schedule spans them), ``batch_size``, ``lr``, ``weight_decay``,
``budget_seconds`` (wall-clock cap; the cosine schedule follows it), ``init`` (checkpoint to
start from), ``out`` (checkpoint path), ``work_dir`` (resume state), ``seed``, ``threads``
(torch intra-op threads), ``num_workers`` (scene-rendering processes), ``tune_grouping``,
``bn_recalibration_batches``, ``freeze_batchnorm`` (BatchNorm stays on the init's statistics
during training and is not re-estimated at the end: for fine-tuning on a few images),
``train_only`` (optional list of parameter-name prefixes, e.g. ``["centers"]``: only those weights learn, every
BatchNorm keeps its statistics, so the rest of the network computes what the init did),
``lr_scale`` (optional {parameter-name prefix: factor}: those weights learn at ``lr`` times the factor, e.g.
``{"centers": 30}`` with a low ``lr``: a new head learns fast while the network under it moves gently),
``rehearsal`` (optional dataset spec like ``data``: its samples are mixed into every epoch, e.g.
``{"synthetic": {"count": 40, "seed": 7000000}}`` fresh base-domain scenes in a fine-tune), ``distill`` (weight of
``engine.distillation_loss`` against a frozen copy of the init's maps; 0, the default, is off),
``precision`` (``fp32``, ``bf16`` or ``auto`` = bf16 where the CPU has it natively: the
training steps' forward pass under autocast; evaluation stays float32), ``device`` (``cpu``,
``cuda`` or ``auto``: where the training steps run; the checkpoint, grouping tuning and
validation are on the CPU either way), ``contact_weight`` (the interior loss counts this many times
where two parcels touch: ``engine.contact_band``; 1 = off; None, the default = the init's own, 1
without one).
Re-running the same command resumes from ``work_dir/last.pt``.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from ml.synth.scene import CATEGORIES, DOMAINS
from ml.universal.checkpoint import load_checkpoint, make_meta, save_checkpoint
from ml.universal.data import BoxDataset, CocoDataset, RehearsalMix, SyntheticDataset
from ml.universal.engine import (
    CosineSchedule,
    Distillation,
    recalibrate_batchnorm,
    resolve_device,
    train_one_epoch,
    training_dtype,
)
from ml.universal.model import build_model
from ml.universal.predictor import FLIPS, UniversalPredictor
from ml.universal.tuning import tune_grouping, validate

DEFAULTS: dict[str, Any] = {
    "architecture": "unet_s",
    "input_size": 256,
    "inference_size": None,
    "data": {"synthetic": {"count": 1000, "seed": 100_000, "domains": sorted(DOMAINS)}},
    "rehearsal": None,
    "distill": 0.0,
    "val": None,
    "epochs": 10,
    "steps": None,
    "batch_size": 8,
    "lr": 3e-3,
    "weight_decay": 1e-4,
    "budget_seconds": None,
    "init": None,
    "out": "ml/checkpoints/universal_base.pt",
    "work_dir": None,
    "seed": 0,
    "threads": 2,
    "num_workers": 0,
    "bn_recalibration_batches": 16,
    "freeze_batchnorm": False,
    "train_only": None,
    "lr_scale": None,
    "tune_grouping": False,
    "precision": "fp32",
    "device": "cpu",
    # A continued training keeps the loss its init learned with (retrain_base passed none and trained the
    # seventh base's successors at 1 instead of its 5; docs/fleet.md).
    "contact_weight": None,
}


def _quiet_worker(_worker_id: int) -> None:
    """Data workers render scenes on one core each; OpenCV's own thread pool would oversubscribe."""
    import cv2

    cv2.setNumThreads(1)


def load_config(path: str | Path) -> dict[str, Any]:
    text = Path(path).read_text()
    if str(path).endswith((".yaml", ".yml")):
        import yaml

        return yaml.safe_load(text) or {}
    return json.loads(text)


def build_dataset(
    spec: dict[str, Any] | list[dict[str, Any]],
    categories: list[str],
    input_size: int,
    seed: int,
    augment: bool = True,
):
    """The dataset of one spec (``synthetic``, ``coco`` or ``boxes``), or of a list of specs in turn."""
    if isinstance(spec, list):
        parts = [build_dataset(part, categories, input_size, seed, augment) for part in spec]
        return functools.reduce(RehearsalMix, parts)
    if "boxes" in spec:
        box = spec["boxes"]
        return BoxDataset(
            box["coco"],
            categories,
            input_size,
            box["source_map"],
            box.get("subset", "captures"),
            box.get("images_dir"),
            box.get("category", "cardboard_box"),
            augment=augment,
            seed=seed,
            repeat=int(box.get("repeat", 1)),
            background=bool(box.get("background", True)),
            series_kinds=tuple(box.get("series_kinds", ())),
            zoom_out=float(box.get("zoom_out", 1.0)),
            camera=float(box.get("camera", 0.0)),
            mosaic=float(box.get("mosaic", 0.0)),
        )
    if "synthetic" in spec:
        syn = spec["synthetic"]
        return SyntheticDataset(
            syn.get("domains", sorted(DOMAINS)),
            int(syn["count"]),
            int(syn.get("seed", 0)),
            input_size,
            categories,
            augment=augment,
            fresh_each_epoch=syn.get("fresh", True),
            scene_size=int(syn.get("scene_size", 512)),
            camera=float(syn.get("camera", 0.0)),
        )
    return CocoDataset(
        spec["coco"], categories, input_size, spec.get("images_dir"), augment=augment, seed=seed
    )


def train(
    config: dict[str, Any],
    progress: Callable[[dict], None] | None = None,
    on_step: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Train per ``config``; writes ``config["out"]`` and returns its metrics plus ``checkpoint``.

    ``progress`` gets {"epoch", "epochs", "loss", "fraction", "eta_seconds"} after each epoch.
    """
    cfg = copy.deepcopy(DEFAULTS)
    cfg.update(config)
    torch.manual_seed(cfg["seed"])
    torch.set_num_threads(int(cfg["threads"]))
    if cfg["init"]:
        model, init_meta = load_checkpoint(cfg["init"])
        categories, arch = init_meta["categories"], init_meta["architecture"]
        input_size = int(
            config.get("input_size") or init_meta["input_size"]
        )  # the init's, unless the config says
    else:
        categories, arch, input_size = list(CATEGORIES), cfg["architecture"], int(cfg["input_size"])
        model = build_model(arch, num_classes=len(categories))
    if cfg["contact_weight"] is None:  # the loss the init was trained with (none from scratch)
        cfg["contact_weight"] = (
            (init_meta.get("data") or {}).get("contact_weight", 1.0) if cfg["init"] else 1.0
        )
    device = resolve_device(str(cfg["device"]))
    model.to(device)
    dataset = build_dataset(cfg["data"], categories, input_size, cfg["seed"])
    if cfg["rehearsal"]:
        dataset = RehearsalMix(dataset, build_dataset(cfg["rehearsal"], categories, input_size, cfg["seed"]))
    batch = min(int(cfg["batch_size"]), len(dataset))
    loader = DataLoader(
        dataset,
        batch_size=batch,
        shuffle=True,
        drop_last=True,
        num_workers=int(cfg["num_workers"]),
        worker_init_fn=_quiet_worker,
        generator=torch.Generator().manual_seed(cfg["seed"]),
        pin_memory=device.type == "cuda",
    )
    if cfg["train_only"]:  # a new head learns on the features of a network that stays as it was
        prefixes = tuple(str(p) for p in cfg["train_only"])
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(name.startswith(prefixes))
        cfg["freeze_batchnorm"] = True
    scales = {str(k): float(v) for k, v in (cfg["lr_scale"] or {}).items()}
    groups: dict[float, list[torch.nn.Parameter]] = {}  # learning-rate factor -> the weights that learn at it
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            scale = next((v for k, v in scales.items() if name.startswith(k)), 1.0)
            groups.setdefault(scale, []).append(parameter)
    if not groups:
        raise ValueError(f"train_only {cfg['train_only']} names no parameter of {arch}")
    optimizer = torch.optim.AdamW(
        [{"params": params, "lr_scale": scale} for scale, params in groups.items()],
        lr=cfg["lr"],
        weight_decay=cfg["weight_decay"],
    )
    epochs = int(cfg["epochs"])
    total_steps = epochs * len(loader)
    if cfg["steps"]:
        total_steps = int(cfg["steps"])
        epochs = math.ceil(total_steps / len(loader))
    schedule = CosineSchedule(
        cfg["lr"], total_steps, cfg["budget_seconds"], warmup_steps=min(50, max(1, total_steps // 10))
    )
    # The teacher is the init, taken before a resumed run loads its own weights.
    distill = Distillation.of(model, cfg["distill"]) if cfg["distill"] else None
    start_epoch, history = 0, []
    resume_path = Path(cfg["work_dir"]) / "last.pt" if cfg["work_dir"] else None
    if resume_path is not None and resume_path.exists():
        state = torch.load(resume_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, schedule.step, schedule.elapsed_before = state["epoch"], state["step"], state["elapsed"]
        history = state["history"]
    autocast_dtype = training_dtype(str(cfg["precision"]), device)
    schedule.start()
    for epoch in range(start_epoch, epochs):
        dataset.set_epoch(epoch)
        stats = train_one_epoch(
            model,
            optimizer,
            loader,
            schedule,
            on_step,
            should_stop,
            freeze_batchnorm=cfg["freeze_batchnorm"],
            autocast_dtype=autocast_dtype,
            contact_weight=float(cfg["contact_weight"]),
            distill=distill,
        )
        if stats["steps"]:
            history.append({"epoch": epoch + 1, "loss": round(stats["loss"], 5)})
        if resume_path is not None:
            resume_path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "epoch": epoch + 1,
                    "step": schedule.step,
                    "elapsed": schedule.elapsed(),
                    "history": history,
                },
                resume_path,
            )
        frac = schedule.fraction()
        if progress is not None:
            eta = schedule.elapsed() / frac * (1 - frac) if frac > 0 else None
            progress(
                {
                    "epoch": epoch + 1,
                    "epochs": epochs,
                    "loss": stats["loss"],
                    "fraction": frac,
                    "eta_seconds": eta,
                }
            )
        if stats["stopped"] or frac >= 1.0:
            break
    seconds = schedule.elapsed()
    if not cfg["freeze_batchnorm"]:  # frozen statistics are the base's; a few images would only add noise
        recalibrate_batchnorm(model, loader, int(cfg["bn_recalibration_batches"]))
    model.to("cpu").eval()
    meta = make_meta(arch, categories, int(cfg["inference_size"] or input_size))
    if cfg["init"]:
        meta["grouping"] = dict(init_meta.get("grouping", meta["grouping"]))  # the base's tuned threshold
        meta["test_time_flips"] = list(init_meta.get("test_time_flips", []))  # tuned together with it
        # Carried over: the centre tower's extra input sizes (``predictor._tower``), with which the shapes'
        # rescorer (ml.universal.rescoring) was fitted at that grouping (calibration runs on top), and where a
        # pretrained trunk and the maps on it came from (ml.universal.backbone).
        for key in ("tower_sizes", "rescorer", "tower_init", "maps_init"):
            if key in init_meta:
                meta[key] = copy.deepcopy(init_meta[key])
    meta["data"] = {
        "train": cfg["data"],
        "rehearsal": cfg["rehearsal"],
        "distill": float(cfg["distill"]),
        "images_per_epoch": len(dataset),
        "epochs_completed": len(history),
        "steps": schedule.step,
        "batch_size": batch,
        "train_seconds": round(seconds, 1),
        "precision": "bf16" if autocast_dtype is not None else "fp32",
        "device": device.type,
        "contact_weight": float(cfg["contact_weight"]),
        "init": str(cfg["init"]) if cfg["init"] else None,
    }
    meta["history"] = history
    metrics: dict[str, Any] = {}
    if cfg["val"] and cfg.get("tune_grouping"):
        metrics = tune_grouping(model, meta, cfg["val"])
    elif cfg["val"]:
        metrics = validate(UniversalPredictor(model, meta), cfg["val"])
        meta["metrics"] = {"val": cfg["val"], **metrics}
    out = save_checkpoint(cfg["out"], model, meta)
    return {
        **metrics,
        "loss": history[-1]["loss"] if history else None,
        "train_seconds": round(seconds, 1),
        "steps": schedule.step,
        "device": device.type,
        "checkpoint": str(out),
    }


def main(argv: list[str] | None = None) -> None:
    from tqdm import tqdm

    parser = argparse.ArgumentParser(description="Train the universal instance-segmentation model.")
    parser.add_argument("--config", required=True, help="JSON or YAML config (see module docstring)")
    parser.add_argument("--out", help="override the config's checkpoint path")
    parser.add_argument("--device", help="override the config's training device (cpu, cuda, auto)")
    parser.add_argument("--budget-seconds", type=float, help="override the config's wall-clock budget")
    parser.add_argument("--lr", type=float, help="override the config's peak learning rate")
    parser.add_argument(
        "--retune", metavar="CKPT", help="only re-tune CKPT's grouping on the config's val set"
    )
    parser.add_argument(
        "--input-sizes",
        type=int,
        nargs="+",
        metavar="PX",
        help="with --retune: also pick the inference input size (long side) among these",
    )
    parser.add_argument(
        "--test-time-flips",
        nargs="*",
        choices=sorted(FLIPS),
        metavar="FLIP",
        help="with --retune: average each image's maps with these mirror images' "
        f"({', '.join(sorted(FLIPS))}; none when given alone)",
    )
    args = parser.parse_args(argv)
    config = load_config(args.config)
    if args.out:
        config["out"] = args.out
    if args.device:
        config["device"] = args.device
    if args.budget_seconds:
        config["budget_seconds"] = args.budget_seconds
    if args.lr:
        config["lr"] = args.lr
    if args.retune:
        model, meta = load_checkpoint(args.retune)
        if args.test_time_flips is not None:
            meta["test_time_flips"] = list(args.test_time_flips)
        torch.set_num_threads(int(config.get("threads", 2)))
        best: tuple[float, dict, dict] | None = None
        for size in args.input_sizes or [meta["input_size"]]:
            trial = {**meta, "input_size": size}
            metrics = tune_grouping(model, trial, config["val"])
            flips, ap, ap50 = trial.get("test_time_flips", []), metrics["mask_ap"], metrics["mask_ap50"]
            shown = {"input_size": size, "test_time_flips": flips, "grouping": trial["grouping"]}
            print(json.dumps({**shown, "val_mask_ap": ap, "val_mask_ap50": ap50}))
            if best is None or metrics["mask_ap"] > best[0]:
                best = (metrics["mask_ap"], trial, metrics)
        assert best is not None
        save_checkpoint(args.retune, model, best[1])
        print(json.dumps({"input_size": best[1]["input_size"], "grouping": best[1]["grouping"], **best[2]}))
        return
    bar = tqdm(total=1000, unit="‰", bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")

    def on_step(info: dict) -> None:
        bar.update(int(info["fraction"] * 1000) - bar.n)
        bar.set_postfix(loss=f"{info['loss']:.4f}", lr=f"{info['lr']:.2e}", refresh=False)

    def on_epoch(info: dict) -> None:
        bar.write(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in info.items()}))

    result = train(config, progress=on_epoch, on_step=on_step)
    bar.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()

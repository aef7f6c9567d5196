"""Train the offline engine's candidate scorer on ``ml.synth`` scenes.

    python -m ml.prompt.train_offline_scorer --scenes 160 --seed 0 \
        --out ml/checkpoints/prompt_offline_scorer.npz

Data: for each scene (domains in turn, seeds ``seed .. seed+scenes-1``, disjoint from the
evaluation seeds 1234+) and each of its largest instances, the clicker protocol runs for a
few clicks; at every click all watershed candidates are made, their features recorded with
their true IoU. The trajectory follows the best candidate half of the time and a random one
otherwise, so the scorer also sees the states its own mistakes lead to.
Model: MLP (features -> 32 -> 16 -> 1, sigmoid), binary cross-entropy against the IoU.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from ml.geometry import mask_iou
from ml.prompt.clicker import next_click
from ml.prompt.engine import Prompts
from ml.prompt.offline import DEFAULT_SCORER, OfflineEngine
from ml.prompt.offline_scorer import FEATURE_NAMES, candidate_features


def collect(
    scenes: int, seed: int, *, max_instances: int = 3, clicks: int = 5, progress: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, target IoU, group id) for every candidate at every simulated click."""
    from ml.synth import DOMAINS, generate_scene

    engine = OfflineEngine(scorer_path=None)
    rng = np.random.default_rng(seed)
    domains = list(DOMAINS)
    feats, ious, groups = [], [], []
    group = 0
    t0 = time.time()
    for i in range(scenes):
        scene = generate_scene(domains[i % len(domains)], seed + i, size=(512, 512))
        embedding = engine.embed(scene.image)
        _, lab, grad = engine._working_images(embedding)
        h, w = embedding.image_size
        scale = (lab.shape[1] / w, lab.shape[0] / h)
        kept = sorted((m for m, _ in scene.instances if m.sum() >= 100), key=lambda m: -int(m.sum()))
        for gt in kept[:max_instances]:
            gt_small = gt if scale == (1.0, 1.0) else None
            prompts, pred = Prompts(), None
            for _ in range(clicks):
                click = next_click(gt, pred)
                if click is None:
                    break
                prompts.points.append(click[0])
                prompts.labels.append(click[1])
                cands = engine.candidates(embedding, prompts)
                if len(cands) < 2:
                    break
                target = [
                    mask_iou(m, gt_small if gt_small is not None else _resize(gt, m.shape)) for _, m in cands
                ]
                feats.append(candidate_features(cands, lab, grad, prompts, scale))
                ious.extend(target)
                groups.extend([group] * len(cands))
                group += 1
                pick = int(np.argmax(target)) if rng.random() < 0.5 else int(rng.integers(len(cands)))
                pred = _resize(cands[pick][1], gt.shape)
                if max(target) >= 0.95:
                    break
        if progress:
            print(f"scene {i + 1}/{scenes}: {group} click states, {time.time() - t0:.0f} s", flush=True)
    return np.concatenate(feats), np.asarray(ious, np.float32), np.asarray(groups)


def _resize(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    import cv2

    if mask.shape == shape:
        return mask
    return cv2.resize(mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST) > 0


def fit(x: np.ndarray, y: np.ndarray, *, epochs: int = 600, seed: int = 0) -> dict[str, np.ndarray]:
    """Full-batch Adam on BCE(sigmoid(MLP(x)), IoU); returns NumPy parameters."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 1k-parameter MLP: thread hand-offs cost more than the maths
    try:
        return _fit(x, y, epochs=epochs, seed=seed)
    finally:
        torch.set_num_threads(threads)


def _fit(x: np.ndarray, y: np.ndarray, *, epochs: int, seed: int) -> dict[str, np.ndarray]:
    torch.manual_seed(seed)
    mean, std = x.mean(0), x.std(0) + 1e-6
    xt = torch.from_numpy((x - mean) / std)
    yt = torch.from_numpy(y)[:, None]
    model = nn.Sequential(
        nn.Linear(x.shape[1], 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 1)
    )
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    for _ in range(epochs):
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(model(xt), yt)
        loss.backward()
        opt.step()
    layers = [m for m in model if isinstance(m, nn.Linear)]
    params = {"mean": mean.astype(np.float32), "std": std.astype(np.float32)}
    for k, layer in enumerate(layers, start=1):
        params[f"w{k}"] = layer.weight.detach().numpy().T.copy()
        params[f"b{k}"] = layer.bias.detach().numpy().copy()
    return params


def pick_quality(
    params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, groups: np.ndarray
) -> dict[str, float]:
    """Mean IoU of the picked candidate vs the default (first) and the oracle, per click state."""
    from ml.prompt.offline_scorer import CandidateScorer

    pred = CandidateScorer(params, "eval").predict(x)
    picked, default, oracle = [], [], []
    for g in np.unique(groups):
        idx = np.nonzero(groups == g)[0]
        picked.append(y[idx[np.argmax(pred[idx])]])
        default.append(y[idx[0]])
        oracle.append(y[idx].max())
    return {
        "picked": float(np.mean(picked)),
        "default": float(np.mean(default)),
        "oracle": float(np.mean(oracle)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenes", type=int, default=160)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=600)
    parser.add_argument("--out", default=str(DEFAULT_SCORER))
    parser.add_argument("--cache", default=None, help="npz to save / reuse the collected features")
    args = parser.parse_args(argv)
    if args.cache and Path(args.cache).is_file():
        with np.load(args.cache) as d:
            x, y, groups = d["x"], d["y"], d["groups"]
    else:
        x, y, groups = collect(args.scenes, args.seed)
        if args.cache:
            np.savez(args.cache, x=x, y=y, groups=groups)
    held = groups % 5 == 0  # every fifth click state is held out for the report
    params = fit(x[~held], y[~held], epochs=args.epochs, seed=args.seed)
    report = {
        "train": pick_quality(params, x[~held], y[~held], groups[~held]),
        "held_out": pick_quality(params, x[held], y[held], groups[held]),
        "samples": int(len(y)),
        "click_states": int(len(np.unique(groups))),
    }
    params = fit(x, y, epochs=args.epochs, seed=args.seed)  # final weights use every sample
    params["feature_names"] = np.array(FEATURE_NAMES)
    params["meta"] = np.array(json.dumps({"scenes": args.scenes, "seed": args.seed, **report}))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **cast(dict[str, Any], params))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

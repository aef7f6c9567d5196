"""Checkpoint files: ``{"state_dict": ..., "meta": {...}}`` with plain-typed metadata.

``meta`` holds ``architecture`` (a key of ``MODELS``), ``categories`` (names; class index
k + 1 is ``categories[k]``), ``input_size`` (long side in px the model sees), ``grouping``
(GroupingParams fields), ``test_time_flips`` (optional: the mirror images whose maps
inference averages in, see ``predictor.FLIPS``; the grouping was tuned with them), ``data``
(training data summary), ``metrics`` and ``date``.
Loading uses ``weights_only=True``, so metadata must be plain Python types.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import torch

from ml.universal.grouping import GroupingParams
from ml.universal.model import UniversalNet, build_model


def make_meta(architecture: str, categories: list[str], input_size: int, **extra: Any) -> dict[str, Any]:
    meta = {
        "architecture": architecture,
        "categories": list(categories),
        "input_size": int(input_size),
        "grouping": dataclasses.asdict(GroupingParams()),
        "data": {},
        "metrics": {},
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    meta.update(extra)
    return meta


def save_checkpoint(path: str | Path, model: torch.nn.Module, meta: dict[str, Any]) -> Path:
    """Write weights + metadata atomically (temp file then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "meta": meta}, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path) -> tuple[UniversalNet, dict[str, Any]]:
    """Rebuild the model named in the checkpoint's metadata and load its weights (eval mode)."""
    blob = torch.load(Path(path), map_location="cpu", weights_only=True)
    meta = blob["meta"]
    model = build_model(meta["architecture"], num_classes=len(meta["categories"]))
    model.load_state_dict(blob["state_dict"])
    model.eval()
    return model, meta

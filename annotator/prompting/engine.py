"""The prompt engine (SAM or the offline engine) and its durable embedding store.

Embeddings are float16 files keyed by image sha256 + engine id, so a re-uploaded image in
another project reuses them and a new engine (or new weights) recomputes them.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings

from annotator.torch_threads import torch_threads

_lock = threading.Lock()


@dataclass(frozen=True)
class EngineChoice:
    """Which prompt engine runs for a project, named for people, and why that one."""

    name: str  # sam | offline | grabcut
    label: str  # what the annotate view's button says
    reason: str


def engine_choice(project_engine: str = "default") -> EngineChoice:
    """Resolve the project's setting and the server's (``PROMPT_ENGINE``, ``SAM_CHECKPOINT``) without
    loading anything. SAM asked for without a usable checkpoint falls back to the offline engine, and
    the reason says so."""
    conf = settings.ANNOTATOR
    by = "the project's setting" if project_engine != "default" else "the server's ANNOTATOR_PROMPT_ENGINE"
    requested = project_engine if project_engine != "default" else conf["PROMPT_ENGINE"]
    checkpoint = conf["SAM_CHECKPOINT"]
    sam_label = f"SAM ({conf['SAM_MODEL_TYPE']})"
    if requested in ("default", "sam"):
        if checkpoint and Path(checkpoint).is_file():
            why = "chosen by " + by if requested == "sam" else "a SAM checkpoint is configured"
            return EngineChoice("sam", sam_label, f"{why} ({Path(checkpoint).name})")
        missing = (
            f"the SAM checkpoint {checkpoint} is missing" if checkpoint else "no SAM checkpoint configured"
        )
        asked = f"{by} asks for SAM, but " if requested == "sam" else ""
        return EngineChoice("offline", "Offline engine", f"{asked}{missing} (SAM_CHECKPOINT)")
    if requested == "grabcut":
        return EngineChoice("grabcut", "GrabCut", f"chosen by {by}")
    return EngineChoice("offline", "Offline engine", f"chosen by {by}")


def engine_settings(project_engine: str = "default") -> tuple[str, str, str, str, bool]:
    conf = settings.ANNOTATOR
    name = engine_choice(project_engine).name
    checkpoint = conf["SAM_CHECKPOINT"] if name == "sam" else ""
    return name, checkpoint, conf["SAM_MODEL_TYPE"], conf["SAM_PRECISION"], conf["SAM_COMPILE"]


@lru_cache(maxsize=4)
def get_engine(name: str, checkpoint: str, model_type: str, precision: str = "auto", compile: bool = False):
    from ml.prompt import build_engine

    return build_engine(
        name, checkpoint=checkpoint or None, model_type=model_type, precision=precision, compile=compile
    )


def engine_for(project_engine: str = "default"):
    return get_engine(*engine_settings(project_engine))


def embedding_path(*, sha256: str, engine_id: str) -> Path:
    engine_key = hashlib.sha256(engine_id.encode()).hexdigest()[:16]
    return Path(settings.ANNOTATOR["EMBEDDING_ROOT"]) / engine_key / sha256[:2] / f"{sha256}.emb"


def store_embedding(path: Path, data: bytes) -> None:
    """Write atomically (temp file + rename) so a killed worker never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def compute(engine, rgb) -> bytes:
    with _lock:
        return engine.embed(rgb).to_bytes()


def segment(engine, embedding, prompts):
    """Engines keep per-image predictor state, so calls are serialised within a process.

    The decoder is small: one thread per web process is fastest, and on a busy machine a
    second thread made it several times slower (threads spin-waiting for a core).
    """
    with _lock, torch_threads(settings.ANNOTATOR["SEGMENT_THREADS"]):
        return engine.segment(embedding, prompts)

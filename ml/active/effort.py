"""Seconds an annotator spends on one image, with and without pre-labels, and the trust gate.

A pre-label is worth its pixels only if fixing it is faster than drawing the shape. This module
prices each action with constants from published annotation-time studies (each cited below),
replays one image's predictions against its accepted shapes, and picks, per project, the mode
(pre-label or suggest) and the score threshold that save the most time.

The actions (seconds, ``EffortModel``):

- **check** a shape that is on the canvas, pre-label or suggestion: one yes/no verification;
- **delete** a false pre-label: point at it and press a key;
- **accept** a suggestion: a key press (it is already under the pointer while it is checked);
- **glance** at a false suggestion: a ghost outline that fits no package is never touched, but the
  eye still lands on it once;
- **fix** a pre-label that matches a package at IoU >= 0.5 but below ``fix_iou`` (0.9): corrective
  clicks with the click engine, or delete and draw, whichever is cheaper;
- **draw** a missed package: clicks with the click engine (or a hand polygon, ``draw="polygon"``).

Matching is one-to-one and greedy in descending score at IoU >= 0.5, as in COCOeval. Greedy
matching in score order is prefix-stable: raising the threshold removes the lowest-scored
shapes and never changes which package a higher-scored shape matched. So one matching per image
(``ImageOutcome``) prices every threshold.

Nothing here imports Django: the app feeds the reviewed images of a project to ``gate`` and
stores the ``GateDecision``; ``python -m ml.active.effort_replay`` replays a COCO set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

# Papadopoulos, Uijlings, Keller, Ferrari, "We don't need no bounding-boxes: training object class
# detectors using only human verification", CVPR 2016: a yes/no verification of a box takes 1.6 s.
VERIFY_S = 1.6
# Papadopoulos, Uijlings, Keller, Ferrari, "Extreme clicking for efficient object annotation",
# ICCV 2017: four extreme clicks per object take 7.0 s, so 1.75 s per deliberate click.
CLICK_S = 7.0 / 4
# Card, Moran, Newell, "The keystroke-level model for user performance time with interactive
# systems", CACM 1980: pointing with a mouse 1.1 s, a keystroke 0.28 s (average non-secretary typist).
POINT_S = 1.1
KEY_S = 0.28
# Rayner, "Eye movements in reading and information processing: 20 years of research", Psychological
# Bulletin 1998: a fixation in scene perception lasts 330 ms on average.
GLANCE_S = 0.33
# Lin et al., "Microsoft COCO: common objects in context", ECCV 2014: "22 worker hours per 1,000
# segmentations", 79.2 s per hand-drawn polygon.
POLYGON_S = 22 * 3600 / 1000
# ml/checkpoints/PROMPT_MODEL_CARD.md: our click engine reaches IoU 0.9 in 1.98-2.00 clicks on
# average (NoC@90, ml.synth x100, seed 1234, the standard clicker of ml/prompt/clicker.py).
DRAW_CLICKS = 2.0
# The same card: one click already gives mean IoU 0.78-0.79, about what a pre-label that needs
# fixing has (IoU 0.5-0.9); the clicks still needed after it are NoC@90 minus that first click.
FIX_CLICKS = DRAW_CLICKS - 1.0

MATCH_IOU = 0.5
FIX_IOU = 0.9

Mode = Literal["prelabel", "suggest"]


@dataclass(frozen=True)
class EffortModel:
    """Seconds per action; the defaults are the cited constants above."""

    verify_s: float = VERIFY_S
    click_s: float = CLICK_S
    point_s: float = POINT_S
    key_s: float = KEY_S
    glance_s: float = GLANCE_S
    polygon_s: float = POLYGON_S
    draw_clicks: float = DRAW_CLICKS
    fix_clicks: float = FIX_CLICKS
    draw: Literal["clicks", "polygon"] = "clicks"
    fix_iou: float = FIX_IOU

    @property
    def draw_s(self) -> float:
        """Draw one package from nothing, and check it."""
        if self.draw == "polygon":
            return self.polygon_s
        return self.draw_clicks * self.click_s + self.verify_s

    @property
    def delete_s(self) -> float:
        return self.point_s + self.key_s

    @property
    def fix_s(self) -> float:
        """Bring a matched shape to ``fix_iou``: corrective clicks, or delete it and draw anew."""
        return min(self.fix_clicks * self.click_s, self.delete_s + self.draw_s)


@dataclass(frozen=True)
class ImageOutcome:
    """One image's predictions, matched once against its accepted shapes.

    ``scores`` are in descending order; ``ious[i]`` is prediction i's IoU with the package it
    matched, or 0.0 when it matched none. ``packages`` counts the accepted shapes.
    """

    scores: tuple[float, ...]
    ious: tuple[float, ...]
    packages: int

    def __post_init__(self) -> None:
        if len(self.scores) != len(self.ious):
            raise ValueError(f"{len(self.scores)} scores but {len(self.ious)} IoUs")
        if any(a < b for a, b in zip(self.scores, self.scores[1:], strict=False)):
            raise ValueError("scores must be in descending order")
        if sum(iou >= MATCH_IOU for iou in self.ious) > self.packages:
            raise ValueError(f"more matched predictions than the {self.packages} packages")


def outcome_from_ious(scores: Sequence[float], ious: np.ndarray, packages: int) -> ImageOutcome:
    """Greedy one-to-one matching in descending score (ties in the order given) at IoU >= 0.5.

    ``ious`` is the predictions x packages IoU matrix (boxes or masks)."""
    ious = np.asarray(ious, dtype=np.float64).reshape(len(scores), packages)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    taken = np.zeros(packages, dtype=bool)
    matched: list[float] = []
    for i in order:
        free = np.where(taken, -1.0, ious[i]) if packages else np.zeros(0)
        j = int(np.argmax(free)) if packages else -1
        if packages and free[j] >= MATCH_IOU:
            taken[j] = True
            matched.append(float(free[j]))
        else:
            matched.append(0.0)
    return ImageOutcome(tuple(float(scores[i]) for i in order), tuple(matched), packages)


def seconds_without(outcome: ImageOutcome, model: EffortModel) -> float:
    """Draw every package."""
    return outcome.packages * model.draw_s


def seconds_with(outcome: ImageOutcome, threshold: float, mode: Mode, model: EffortModel) -> float:
    """Seconds for one image when the shapes scoring >= ``threshold`` are pre-labels or suggestions.

    Pre-labels: check each; delete a false one; fix one below ``fix_iou``. Suggestions: the
    annotator checks the one that fits a package and accepts it with a key (then fixes it, or
    draws the package instead, whichever is cheaper); a false suggestion costs one glance and is
    left alone. Every package left unmatched is drawn.
    """
    if mode not in ("prelabel", "suggest"):
        raise ValueError(f"unknown mode {mode!r}")
    seconds = 0.0
    found = 0
    for score, iou in zip(outcome.scores, outcome.ious, strict=True):
        if score < threshold:
            break
        if iou < MATCH_IOU:
            seconds += model.verify_s + model.delete_s if mode == "prelabel" else model.glance_s
            continue
        found += 1
        fix = model.fix_s if iou < model.fix_iou else 0.0
        seconds += model.verify_s + (fix if mode == "prelabel" else min(model.key_s + fix, model.draw_s))
    return seconds + (outcome.packages - found) * model.draw_s


def precision_recall(outcomes: Sequence[ImageOutcome], threshold: float) -> tuple[float | None, float | None]:
    """Pre-labels scoring >= ``threshold`` against the accepted shapes (None where undefined)."""
    shown = matched = packages = 0
    for outcome in outcomes:
        packages += outcome.packages
        for score, iou in zip(outcome.scores, outcome.ious, strict=True):
            if score < threshold:
                break
            shown += 1
            matched += iou >= MATCH_IOU
    return (matched / shown if shown else None, matched / packages if packages else None)


def candidate_thresholds(outcomes: Sequence[ImageOutcome]) -> list[float]:
    """Every threshold that changes what is shown: each distinct score, and one above them all."""
    scores = sorted({s for outcome in outcomes for s in outcome.scores})
    return [*scores, float("inf")]


def mean_seconds(outcomes: Sequence[ImageOutcome], threshold: float, mode: Mode, model: EffortModel) -> float:
    return float(np.mean([seconds_with(o, threshold, mode, model) for o in outcomes]))


@dataclass(frozen=True)
class GateDecision:
    """What the gate chose for one project and model version, and why."""

    mode: Mode
    threshold: float
    precision: float | None
    recall: float | None
    seconds_saved_per_image: float | None
    reviewed_images: int
    reason: str
    learned: bool = field(default=True)

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["threshold"] = None if not np.isfinite(self.threshold) else self.threshold
        return out


MIN_REVIEWED = 20
# Pre-labels switch on only when they surely save more than a tenth of the time to draw everything:
# the cited timings differ by more than that between studies (box verification 1.6 s in
# Papadopoulos 2016, 9.0 s for ILSVRC's quality check in Su et al. 2012), so a smaller saving is
# within the model's own error. On the seventh base, the first 20 real val captures (few cartons)
# showed a 7 % saving that became a 8 % loss on the crowded later frames.
MIN_SAVING_SHARE = 0.10


def gate(
    outcomes: Sequence[ImageOutcome],
    default_threshold: float,
    model: EffortModel | None = None,
    *,
    min_reviewed: int = MIN_REVIEWED,
    calibrated: bool = True,
) -> GateDecision:
    """The mode and threshold that save the most expected seconds on the reviewed images.

    Fewer than ``min_reviewed`` images: the checkpoint's calibrated default, as pre-labels; a
    checkpoint without a calibration has no default worth trusting, so its shapes start as
    suggestions. Else
    the pre-label threshold with the lowest mean seconds per image, if with 95 % confidence
    (``savings_lower_bound``) it saves more than ``MIN_SAVING_SHARE`` of the time to draw
    everything; otherwise suggestion mode at its own best threshold.
    """
    model = model or EffortModel()
    n = len(outcomes)
    if n < min_reviewed:
        precision, recall = precision_recall(outcomes, default_threshold)
        waiting = f"{n} of {min_reviewed} reviewed images needed to learn a threshold: "
        if calibrated:
            reason = f"{waiting}the model's calibrated default {default_threshold:.2f} applies"
        else:
            reason = f"{waiting}the model has no calibrated scores, so its shapes are suggestions"
        mode: Mode = "prelabel" if calibrated else "suggest"
        return GateDecision(mode, default_threshold, precision, recall, None, n, reason, learned=False)
    baseline = float(np.mean([seconds_without(o, model) for o in outcomes]))
    thresholds = candidate_thresholds(outcomes)
    best: dict[str, tuple[float, float]] = {}
    for mode in ("prelabel", "suggest"):
        costs = [mean_seconds(outcomes, t, mode, model) for t in thresholds]  # type: ignore[arg-type]
        i = int(np.argmin(costs))
        best[mode] = (thresholds[i], costs[i])
    threshold, cost = best["prelabel"]
    savings = [seconds_without(o, model) - seconds_with(o, threshold, "prelabel", model) for o in outcomes]
    sure = savings_lower_bound(savings)
    if sure > MIN_SAVING_SHARE * baseline:
        mode = "prelabel"
        reason = (
            f"on {n} reviewed images, pre-labels scoring {threshold:.2f} or more save "
            f"{baseline - cost:.1f} s per image ({cost:.1f} s against {baseline:.1f} s drawing everything; "
            f"at least {sure:.1f} s with 95 % confidence)"
        )
    else:
        mode = "suggest"
        threshold, cost = best["suggest"]
        reason = (
            f"on {n} reviewed images no pre-label threshold surely saves a tenth of the "
            f"{baseline:.1f} s per image that drawing everything takes: shapes are offered as suggestions"
        )
    precision, recall = precision_recall(outcomes, threshold)
    return GateDecision(mode, threshold, precision, recall, baseline - cost, n, reason)


def savings_lower_bound(savings: Sequence[float], *, resamples: int = 2000, seed: int = 0) -> float:
    """One-sided 95 % lower bound of the mean saving per image (images resampled)."""
    values = np.asarray(savings, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    return float(np.percentile(means, 5))


def bootstrap_ratio(
    numerator: Sequence[float], denominator: Sequence[float], *, resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """sum(numerator) / sum(denominator) over images, with a 95 % percentile interval (images resampled)."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    if num.shape != den.shape or num.size == 0:
        raise ValueError("numerator and denominator need the same, non-zero number of images")
    point = float(num.sum() / den.sum()) if den.sum() > 0 else float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num.size, size=(resamples, num.size))
    sums = den[idx].sum(axis=1)
    ratios = np.where(sums > 0, num[idx].sum(axis=1) / np.maximum(sums, 1e-12), np.nan)
    low, high = np.nanpercentile(ratios, [2.5, 97.5])
    return point, float(low), float(high)

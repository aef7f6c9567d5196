"""The multi-set promotion gate of a base candidate: better on average, no set regressed beyond a tolerance.

A *set* is one evaluation split: the synthetic held-out scenes or one contributing project's
(team's) val split, each scored with mask AP after mapping categories to the taxonomy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class GateRow:
    name: str
    candidate: float
    current: float
    delta: float
    regressed: bool
    images: int | None = None


@dataclass
class GateResult:
    promote: bool
    reason: str
    mean_candidate: float
    mean_current: float
    tolerance: float
    rows: list[GateRow] = field(default_factory=list)

    @property
    def regressions(self) -> list[str]:
        return [row.name for row in self.rows if row.regressed]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "regressions": self.regressions}


def gate_decide(
    candidate: Mapping[str, float],
    current: Mapping[str, float],
    *,
    tolerance: float,
    images: Mapping[str, int] | None = None,
) -> GateResult:
    """Compare mask APs set by set (the sets both sides were scored on); promote only if the mean
    rises and no set falls by more than ``tolerance`` (absolute AP)."""
    names = [name for name in candidate if name in current]
    if not names:
        return GateResult(False, "no evaluation set in common: nothing to compare on", 0.0, 0.0, tolerance)
    rows = []
    for name in names:
        cand, cur = float(candidate[name]), float(current[name])
        rows.append(
            GateRow(
                name,
                round(cand, 4),
                round(cur, 4),
                round(cand - cur, 4),
                cand < cur - tolerance,
                (images or {}).get(name),
            )
        )
    mean_cand = sum(r.candidate for r in rows) / len(rows)
    mean_cur = sum(r.current for r in rows) / len(rows)
    regressed = [r for r in rows if r.regressed]
    if regressed:
        worst = ", ".join(f"{r.name} ({r.current:.4f} -> {r.candidate:.4f})" for r in regressed)
        reason = f"regresses {worst}: more than the tolerance of {tolerance:.4f} AP"
        promote = False
    elif mean_cand > mean_cur:
        reason = (
            f"mean mask AP {mean_cand:.4f} > {mean_cur:.4f} over {len(rows)} sets, no set below tolerance"
        )
        promote = True
    else:
        reason = f"mean mask AP {mean_cand:.4f} <= {mean_cur:.4f} over {len(rows)} sets: not better"
        promote = False
    return GateResult(promote, reason, round(mean_cand, 4), round(mean_cur, 4), tolerance, rows)

"""What an analysis of a COCO file is made of: the problems found and the images it plans to import."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MAX_STORED_PROBLEMS = 1000


@dataclass
class PlannedImage:
    coco_id: int
    file_name: str
    width: int
    height: int
    existing_id: int | None = None  # an image already in the project
    zip_member: str | None = None  # or a member of the uploaded zip, created on accept
    annotations: list[dict[str, Any]] = field(default_factory=list)  # {coco_id, category, shape, score}


class Problems:
    """Every problem found, by severity and code; the first ``MAX_STORED_PROBLEMS`` kept in full."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self.by_severity: Counter[str] = Counter()

    def add(
        self,
        severity: str,
        code: str,
        message: str,
        *,
        annotation_id: Any = None,
        image_id: Any = None,
        action: str | None = None,
    ) -> None:
        self.counts[code] += 1
        self.by_severity[severity] += 1
        if len(self.items) < MAX_STORED_PROBLEMS:
            self.items.append(
                {
                    "severity": severity,
                    "code": code,
                    "message": message,
                    "annotation_id": annotation_id,
                    "image_id": image_id,
                    "action": action
                    or {"error": "skipped", "warning": "repaired", "note": "ignored"}.get(severity),
                }
            )


def is_int(value: Any) -> bool:
    """An integer, and not a bool (JSON true is not an id)."""
    return isinstance(value, int) and not isinstance(value, bool)

"""What learning does when a lower app announces something (connected in ``apps.LearningConfig.ready``)."""

from __future__ import annotations

from .runs import run_versions_fail_stopped
from .services import images_schedule_pre_label
from .trust_refresh import trust_gate_schedule_update


def pre_label_new_images(*, project, image_ids: list[int], **_: object) -> None:
    """``projects.signals.images_added``: pre-label the new images with the project's active model."""
    images_schedule_pre_label(project=project, image_ids=image_ids)


def fail_versions_of_reaped_runs(**_: object) -> None:
    """``jobs.signals.stale_jobs_reaped``: a reaped training run leaves no model version 'training'."""
    run_versions_fail_stopped()


def relearn_trust_gate(*, project, decision: str, **_: object) -> None:
    """``annotations.signals.image_reviewed``: an accepted image is one more the trust gate learns from.

    While a refresh waits in the queue this queues nothing: that one will read this review.
    """
    if decision == "accept":
        trust_gate_schedule_update(project=project)

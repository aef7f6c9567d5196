"""Writes of the fleet loop on a project: its taxonomy mapping, its contribution opt-in, a rebase."""

from __future__ import annotations

from django.db import transaction

from annotator.errors import ApplicationError
from annotator.learning.models import TrainingRun
from annotator.learning.services import base_model_version
from annotator.learning.training import training_run_request
from annotator.projects.models import Category, Project
from annotator.projects.services import project_update

from .selectors import taxonomy_preview, universal_names


def taxonomy_validate(*, project: Project, mapping: dict[int, str]) -> dict[int, str]:
    """Check a mapping (category id -> universal name or '' for project-only); errors name the category."""
    names = set(universal_names())
    own = {c.id: c.name for c in project.categories.all()}
    for category_id, target in mapping.items():
        if category_id not in own:
            raise ApplicationError(
                f"Category #{category_id} is not a category of this project", field="mapping"
            )
        if target and target not in names:
            raise ApplicationError(
                f"'{target}' (for category '{own[category_id]}') is not a universal class; use one of "
                f"{', '.join(sorted(names))} or '' for project-only",
                field="mapping",
            )
    return mapping


@transaction.atomic
def taxonomy_set(*, project: Project, mapping: dict[int, str], user=None) -> dict:
    """Save the mapping and return its effect (the same preview a dry run shows)."""
    taxonomy_validate(project=project, mapping=mapping)
    for category in Category.objects.select_for_update().filter(project=project, id__in=list(mapping)):
        if category.universal_name != mapping[category.id]:
            category.universal_name = mapping[category.id]
            category.save(update_fields=["universal_name"])
    return taxonomy_preview(project=project)


def contribution_set(*, project: Project, user, contribute: bool) -> Project:
    """Opt in or out of feeding the universal base; ``project_update`` records who and when.

    Opting out only changes what the *next* base run reads; base versions already trained keep
    the list of images and projects they used.
    """
    return project_update(project=project, user=user, contribute_to_universal=contribute)


def project_rebase(*, project: Project, user=None) -> TrainingRun:
    """Fine-tune the project from the current base on its own data, as a project training run.

    The run is the learning loop's own (same lock, progress, cancel, gate); only its starting
    point is the current base instead of the project's active model.
    """
    base = base_model_version()
    if base is None:
        raise ApplicationError("There is no universal base model to rebase on", code="no_base_model")
    with transaction.atomic():  # the run's task is queued on commit, so it sees the new starting point
        run = training_run_request(project=project, user=user, trigger="rebase")
        TrainingRun.objects.filter(pk=run.pk).update(base_version=base)
        run.base_version = base
    return run

"""Writes on projects, memberships, categories, and the admin's lease release."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.text import slugify

from annotator.errors import ApplicationError, ConflictError

from .models import DEFAULT_CATEGORIES, Category, Image, Membership, Project, Role
from .selectors import universal_names


@transaction.atomic
def project_create(*, name: str, user, description: str = "", categories: list[str] | None = None) -> Project:
    """A project with the default package categories (or ``categories``) and ``user`` as its admin."""
    name = name.strip()
    if not name:
        raise ApplicationError("A project needs a name", field="name")
    names = categories or [n for n, _ in DEFAULT_CATEGORIES]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ApplicationError(f"Category '{repeated[0]}' is listed twice", field="categories")
    slug = _unique_slug(name)
    project = Project.objects.create(name=name, slug=slug, description=description, created_by=user)
    defaults = dict(DEFAULT_CATEGORIES)
    for export_id, category_name in enumerate(names, start=1):
        Category.objects.create(
            project=project,
            name=category_name,
            color=defaults.get(category_name, _palette(export_id)),
            export_id=export_id,
            universal_name=category_name if category_name in defaults else "",
        )
    if user is not None:
        Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    return project


def _unique_slug(name: str) -> str:
    base = slugify(name)[:180] or "project"
    slug, n = base, 1
    while Project.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _palette(index: int) -> str:
    colors = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#bcf60c"]
    return colors[index % len(colors)]


def project_update(*, project: Project, user, **fields) -> Project:
    """Change project settings; the universal-contribution opt-in records who changed it and when."""
    allowed = {
        "name",
        "description",
        "auto_pre_label",
        "retrain_threshold",
        "queue_strategy",
        "prompt_engine",
        "contribute_to_universal",
        "annotators_can_upload",
    }
    unknown = set(fields) - allowed
    if unknown:
        raise ApplicationError(
            f"Unknown project setting(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0]
        )
    if (
        "contribute_to_universal" in fields
        and fields["contribute_to_universal"] != project.contribute_to_universal
    ):
        project.contribution_changed_by = user
        project.contribution_changed_at = timezone.now()
    for key, value in fields.items():
        setattr(project, key, value)
    project.save()
    return project


def membership_set(*, project: Project, username: str, role: str) -> Membership:
    if role not in Role.values:
        raise ApplicationError(f"Unknown role '{role}'; use one of {', '.join(Role.values)}", field="role")
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ApplicationError(f"No user named '{username}'", field="username")
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return membership


def category_create(*, project: Project, name: str, color: str = "", universal_name: str = "") -> Category:
    name = name.strip()
    if not name:
        raise ApplicationError("A category needs a name", field="name")
    if universal_name:
        if universal_name not in universal_names():
            raise ApplicationError(
                f"'{universal_name}' is not a universal class; use one of {', '.join(universal_names())} "
                "or leave it empty for a project-only category",
                field="universal_name",
            )
    next_id = (project.categories.order_by("-export_id").values_list("export_id", flat=True).first() or 0) + 1
    try:
        with transaction.atomic():
            return Category.objects.create(
                project=project,
                name=name,
                color=color or _palette(next_id),
                export_id=next_id,
                universal_name=universal_name,
            )
    except IntegrityError as exc:
        raise ConflictError(f"Category '{name}' already exists in this project", field="name") from exc


def images_release_leases(*, images: QuerySet[Image]) -> int:
    """Free the images' leases (an admin's action), so anyone may claim them; returns how many."""
    return images.update(lease_user=None, lease_expires_at=None)

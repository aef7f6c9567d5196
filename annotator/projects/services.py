"""Writes on projects, memberships, categories, and the admin's lease release."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.text import slugify

from annotator.errors import ApplicationError, ConflictError

from .models import Category, Image, Membership, Project, Role
from .selectors import universal_names
from .setup_services import category_specs, ensure_an_admin_remains, member_specs, palette_color


@transaction.atomic
def project_create(
    *,
    name: str,
    user,
    description: str = "",
    categories: list | None = None,
    members: list[dict] | None = None,
) -> Project:
    """A project with its categories (names or ``{name, color, order}``; default: the package
    categories) and members (``{username, role}``), ``user`` as its admin. All or nothing:
    a bad entry raises ``ApplicationError`` naming it, before any row is written."""
    name = name.strip()
    if not name:
        raise ApplicationError("A project needs a name", field="name")
    specs = category_specs(categories)
    team = member_specs(members, creator=user)
    project = Project.objects.create(
        name=name, slug=_unique_slug(name), description=description, created_by=user
    )
    Category.objects.bulk_create(
        Category(
            project=project,
            name=spec.name,
            color=spec.color,
            export_id=n,
            position=n,
            universal_name=spec.universal_name,
        )
        for n, spec in enumerate(specs, start=1)
    )
    if user is not None:
        Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    Membership.objects.bulk_create(Membership(project=project, user=u, role=role) for u, role in team)
    return project


def _unique_slug(name: str) -> str:
    base = slugify(name)[:180] or "project"
    slug, n = base, 1
    while Project.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


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


@transaction.atomic
def membership_set(*, project: Project, username: str, role: str) -> Membership:
    if role not in Role.values:
        raise ApplicationError(f"Unknown role '{role}'; use one of {', '.join(Role.values)}", field="role")
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ApplicationError(f"No user named '{username}'", field="username")
    current = Membership.objects.filter(project=project, user=user).first()
    if current is not None and role != Role.ADMIN:
        ensure_an_admin_remains(project=project, leaving=current)
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
                color=color or palette_color(next_id),
                export_id=next_id,
                universal_name=universal_name,
            )
    except IntegrityError as exc:
        raise ConflictError(f"Category '{name}' already exists in this project", field="name") from exc


def images_release_leases(*, images: QuerySet[Image]) -> int:
    """Free the images' leases (an admin's action), so anyone may claim them; returns how many."""
    return images.update(lease_user=None, lease_expires_at=None)

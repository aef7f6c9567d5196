"""Project set-up in the app: categories (name, colour, order) and members with roles.

``project_create`` (in ``services``) reads its category and member lists through the
``*_specs`` functions here, so a bad entry is refused before anything is written and the
error names the entry (``categories[2].color``). The project page's edits are the other
functions: they keep two rules, that a project has at least one admin and that a category
shapes still use is never removed (the shapes would lose their class).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import PROTECT

from annotator.errors import ApplicationError, ConflictError, NotFoundError

from .models import DEFAULT_CATEGORIES, Category, Membership, Project, Role

COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#bcf60c"]


def palette_color(index: int) -> str:
    """A distinct colour for the ``index``-th category when none is given."""
    return PALETTE[index % len(PALETTE)]


@dataclass(frozen=True)
class CategorySpec:
    name: str
    color: str
    universal_name: str


def category_specs(categories: list[Any] | None) -> list[CategorySpec]:
    """Categories for a new project, in palette order: names or ``{name, color, order}`` dicts.

    Without a list, the default package categories. Entries sort by ``order`` (then as listed);
    export ids follow that order. Raises ``ApplicationError`` naming the bad entry's field.
    """
    if not categories:
        return [CategorySpec(n, c, n) for n, c in DEFAULT_CATEGORIES]
    defaults = dict(DEFAULT_CATEGORIES)
    rows: list[tuple[float, int, str, str]] = []
    for i, entry in enumerate(categories):
        where = f"categories[{i}]"
        raw = {"name": entry} if isinstance(entry, str) else entry
        if not isinstance(raw, dict):
            raise ApplicationError(f"{where} must be a name or an object with a name", field=where)
        name = str(raw.get("name") or "").strip()
        if not name:
            raise ApplicationError(f"Category {i + 1} needs a name", field=f"{where}.name")
        if len(name) > 100:
            raise ApplicationError(
                f"Category '{name[:20]}…' is longer than 100 characters", field=f"{where}.name"
            )
        color = str(raw.get("color") or "")
        if color and not COLOR.match(color):
            raise ApplicationError(
                f"Category '{name}': colour '{color}' is not #rrggbb", field=f"{where}.color"
            )
        order = raw.get("order", i)
        if isinstance(order, bool) or not isinstance(order, int | float):
            raise ApplicationError(f"Category '{name}': order must be a number", field=f"{where}.order")
        rows.append((float(order), i, name, color))
    names = [r[2].lower() for r in rows]
    for _, _, name, _ in rows:
        if names.count(name.lower()) > 1:
            raise ApplicationError(f"Category '{name}' is listed twice", field="categories")
    rows.sort()
    return [
        CategorySpec(name, color or defaults.get(name) or palette_color(n), name if name in defaults else "")
        for n, (_, _, name, color) in enumerate(rows, start=1)
    ]


def member_specs(members: list[Any] | None, *, creator) -> list[tuple[Any, str]]:
    """(user, role) for each ``{username, role}`` entry; the creator is the project's admin anyway."""
    out: list[tuple[Any, str]] = []
    seen: set[str] = set()
    users = get_user_model().objects
    for i, entry in enumerate(members or []):
        where = f"members[{i}]"
        if not isinstance(entry, dict):
            raise ApplicationError(f"{where} must be an object with a username and a role", field=where)
        username = str(entry.get("username") or "").strip()
        role = str(entry.get("role") or "")
        if not username:
            raise ApplicationError(f"Member {i + 1} needs a username", field=f"{where}.username")
        if role not in Role.values:
            raise ApplicationError(
                f"'{username}': unknown role '{role}'; use one of {', '.join(Role.values)}",
                field=f"{where}.role",
            )
        if username in seen:
            raise ApplicationError(f"'{username}' is listed twice", field=f"{where}.username")
        seen.add(username)
        user = users.filter(username=username).first()
        if user is None:
            raise ApplicationError(f"No user named '{username}'", field=f"{where}.username")
        if creator is not None and user.pk == creator.pk:
            if role != Role.ADMIN:
                raise ApplicationError(
                    "You create the project, so you are its admin; leave yourself out of the members",
                    field=f"{where}.role",
                )
            continue
        out.append((user, role))
    return out


# --------------------------------------------------------------------------- categories


def category_update(*, category: Category, name: str | None = None, color: str | None = None) -> Category:
    """Rename and/or recolour; the export id (what exported datasets know it by) stays."""
    if name is not None:
        name = name.strip()
        if not name:
            raise ApplicationError("A category needs a name", field="name")
        category.name = name
    if color is not None:
        if not COLOR.match(color):
            raise ApplicationError(f"Colour '{color}' is not #rrggbb", field="color")
        category.color = color
    try:
        with transaction.atomic():
            category.save(update_fields=["name", "color"])
    except IntegrityError as exc:
        raise ConflictError(f"Category '{name}' already exists in this project", field="name") from exc
    return category


@transaction.atomic
def categories_reorder(*, project: Project, order: list[int]) -> list[Category]:
    """Put the project's categories in ``order`` (all their ids, each once); returns them in that order."""
    categories = {c.id: c for c in Category.objects.select_for_update().filter(project=project)}
    if len(order) != len(set(order)):
        raise ApplicationError("A category is listed twice in the order", field="order")
    unknown = [i for i in order if i not in categories]
    if unknown:
        raise ApplicationError(f"Category {unknown[0]} is not a category of this project", field="order")
    missing = sorted(set(categories) - set(order))
    if missing:
        raise ApplicationError(
            f"The order leaves out '{categories[missing[0]].name}': list every category once", field="order"
        )
    for position, pk in enumerate(order, start=1):
        categories[pk].position = position
    Category.objects.bulk_update(categories.values(), ["position"])
    return [categories[pk] for pk in order]


def _uses(category: Category) -> int:
    """Rows that point at the category and forbid its removal (shapes: ``Annotation.category`` is PROTECT).

    Read through Django's relation registry, so this app need not import the apps above it.
    """
    total = 0
    for rel in Category._meta.related_objects:
        if getattr(rel, "on_delete", None) is PROTECT:
            total += rel.related_model._default_manager.filter(**{rel.field.name: category}).count()
    return total


@transaction.atomic
def category_delete(*, category: Category) -> None:
    """Remove an unused category; refused while any shape uses it, or if it is the project's last."""
    locked = Category.objects.select_for_update().get(pk=category.pk)
    used = _uses(locked)
    if used:
        raise ConflictError(
            f"'{locked.name}' is used by {used} shape{'s' if used != 1 else ''}: give "
            f"{'them' if used != 1 else 'it'} another category first, then remove it",
            field="category",
            code="category_in_use",
            extra={"shapes": used},
        )
    if not Category.objects.filter(project_id=locked.project_id).exclude(pk=locked.pk).exists():
        raise ApplicationError(
            "A project needs at least one category", field="category", code="last_category"
        )
    locked.delete()


# --------------------------------------------------------------------------- members


def _membership(project: Project, username: str) -> Membership:
    membership = project.memberships.select_related("user").filter(user__username=username).first()
    if membership is None:
        raise NotFoundError(f"'{username}' is not a member of this project", field="username")
    return membership


def ensure_an_admin_remains(*, project: Project, leaving: Membership) -> None:
    """Refuse a change that would leave the project without an admin member."""
    if leaving.role != Role.ADMIN:
        return
    Project.objects.select_for_update().filter(pk=project.pk).first()  # one member change at a time
    if not Membership.objects.filter(project=project, role=Role.ADMIN).exclude(pk=leaving.pk).exists():
        raise ApplicationError(
            f"'{leaving.user.username}' is the project's only admin: make someone else admin first",
            field="role",
            code="last_admin",
        )


@transaction.atomic
def member_role_change(*, project: Project, username: str, role: str) -> Membership:
    if role not in Role.values:
        raise ApplicationError(f"Unknown role '{role}'; use one of {', '.join(Role.values)}", field="role")
    membership = _membership(project, username)
    if role != Role.ADMIN:
        ensure_an_admin_remains(project=project, leaving=membership)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def member_remove(*, project: Project, username: str) -> None:
    membership = _membership(project, username)
    ensure_an_admin_remains(project=project, leaving=membership)
    membership.delete()

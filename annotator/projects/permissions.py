"""Who may do what in a project. Roles rank annotator < reviewer < admin; staff are admins everywhere."""

from __future__ import annotations

from typing import TypeVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import CharField, Expression, Model, OuterRef, QuerySet, Subquery, Value
from django.utils.text import capfirst
from rest_framework.permissions import BasePermission

from annotator.errors import ForbiddenError, NotFoundError

from .models import ROLE_RANK, Image, Membership, Project, Role

M = TypeVar("M", bound=Model)


def role_of(*, user: AbstractBaseUser | AnonymousUser, project: Project) -> str | None:
    if not user.is_authenticated:
        return None
    if user.is_staff:
        return Role.ADMIN
    return Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()


def member_role(user: AbstractBaseUser | AnonymousUser | None, project_ref: str = "project_id") -> Expression:
    """``role_of`` as a query expression, so a row and the user's role in its project come in one query.

    ``project_ref`` names the project's id on the queried model (``"pk"`` on ``Project`` itself).
    """
    if user is None or not user.is_authenticated:
        return Value(None, output_field=CharField())
    if user.is_staff:
        return Value(Role.ADMIN.value, output_field=CharField())
    return Subquery(Membership.objects.filter(project_id=OuterRef(project_ref), user=user).values("role")[:1])


def require_role(*, user: AbstractBaseUser | AnonymousUser, project: Project, minimum: str) -> str:
    """The user's role, or an error: 404 for non-members (no existence leak), 403 for too low a role."""
    return check_role(role=role_of(user=user, project=project), project=project, minimum=minimum)


def check_role(*, role: str | None, project: Project, minimum: str) -> str:
    """``require_role`` for a role already fetched (``member_role``): 404 for ``None``, 403 below ``minimum``."""
    if role is None:
        raise NotFoundError("Project not found", code="not_found")
    if ROLE_RANK[Role(role)] < ROLE_RANK[Role(minimum)]:
        raise ForbiddenError(f"This needs the {minimum} role in project '{project.name}'; you are {role}")
    return role


def get_for_role(
    request,
    rows: QuerySet[M],
    pk: int,
    minimum: str = Role.ANNOTATOR,
    *,
    project_field: str | None = "project",
    name: str | None = None,
) -> M:
    """Fetch the row, check the user's role in its project, else 404: the one lookup every API uses.

    One query (the role comes as ``user_role``, see ``member_role``). A missing row, a row of no
    project (the shared base's runs and versions) and a project the user is not a member of all
    answer the same 404, "<name> not found", so nobody learns what exists; too low a role is a 403.
    ``project_field`` names the row's project (``None`` when the rows are projects themselves).
    """
    ref = "pk" if project_field is None else f"{project_field}_id"
    row = rows.annotate(user_role=member_role(request.user, ref)).filter(pk=pk).first()
    label = name or capfirst(rows.model._meta.verbose_name)
    project = row if project_field is None or row is None else getattr(row, project_field)
    if row is None or project is None:
        raise NotFoundError(f"{label} not found")
    try:
        check_role(role=row.user_role, project=project, minimum=minimum)
    except NotFoundError as exc:
        raise NotFoundError(f"{label} not found") from exc
    return row


def get_project(request, project_id: int, minimum: str = Role.ANNOTATOR) -> Project:
    """The project if the user holds at least ``minimum`` in it (``get_for_role``)."""
    return get_for_role(request, Project.objects.all(), project_id, minimum, project_field=None)


def get_image(request, image_id: int, minimum: str = Role.ANNOTATOR) -> Image:
    """The image, with its project and lease holder, if the user holds ``minimum`` in its project."""
    images = Image.objects.select_related("project", "lease_user").defer("features")
    return get_for_role(request, images, image_id, minimum)


def can_create_projects(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Staff, or members of the group ``ANNOTATOR["PROJECT_CREATOR_GROUP"]`` names, may create projects."""
    if not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    group = settings.ANNOTATOR["PROJECT_CREATOR_GROUP"]
    return bool(group) and user.groups.filter(name=group).exists()  # type: ignore[union-attr]


def require_project_creator(user: AbstractBaseUser | AnonymousUser) -> None:
    """403 unless ``can_create_projects``; the message says who may."""
    if not can_create_projects(user):
        group = settings.ANNOTATOR["PROJECT_CREATOR_GROUP"]
        who = f"staff and members of the '{group}' group" if group else "staff"
        raise ForbiddenError(
            f"Only {who} may create projects; ask an administrator", code="cannot_create_projects"
        )


def require_uploader(*, role: str, project: Project) -> None:
    """403 for annotators unless the project lets them upload (``annotators_can_upload``)."""
    if role == Role.ANNOTATOR and not project.annotators_can_upload:
        raise ForbiddenError(
            f"Annotators cannot upload images to project '{project.name}'; a project admin can upload them "
            "or allow annotators to (the project's 'annotators can upload' setting)",
            code="upload_not_allowed",
        )


class IsStaff(BasePermission):
    def has_permission(self, request, view) -> bool:  # noqa: ANN001
        return bool(request.user and request.user.is_staff)

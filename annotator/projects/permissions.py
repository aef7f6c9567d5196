"""Who may do what in a project. Roles rank annotator < reviewer < admin; staff are admins everywhere."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import CharField, Expression, OuterRef, Subquery, Value
from rest_framework.permissions import BasePermission

from annotator.errors import ForbiddenError, NotFoundError

from .models import ROLE_RANK, Membership, Project, Role


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


class IsStaff(BasePermission):
    def has_permission(self, request, view) -> bool:  # noqa: ANN001
        return bool(request.user and request.user.is_staff)

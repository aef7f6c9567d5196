"""Let project admins (staff users who are not superusers) use the Django admin for their projects only.

Django's own model permissions are global; here a non-superuser sees and edits only rows that
belong to projects where they hold the admin role, and gets no access to other projects' rows.
"""

from __future__ import annotations

from django.contrib import admin

from .models import Membership, Role


def admin_project_ids(user) -> list[int]:
    return list(Membership.objects.filter(user=user, role=Role.ADMIN).values_list("project_id", flat=True))


class ReadOnlyAdminMixin:
    """Shown in the admin, never added, edited or deleted there (audit trails, lock rows)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ProjectScopedAdmin(admin.ModelAdmin):
    """``project_path`` is the lookup from the model to its project id (e.g. ``image__project``)."""

    project_path = "project"

    def _scoped(self, request) -> bool:
        return not request.user.is_superuser

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if self._scoped(request):
            queryset = queryset.filter(**{f"{self.project_path}__in": admin_project_ids(request.user)})
        return queryset

    def _allowed(self, request, obj=None) -> bool:
        if not request.user.is_active or not request.user.is_staff:
            return False
        if request.user.is_superuser:
            return True
        ids = admin_project_ids(request.user)
        if obj is None:
            return bool(ids)
        project_id = obj
        for part in self.project_path.split("__"):
            project_id = getattr(project_id, part)
        return getattr(project_id, "pk", project_id) in ids

    def has_module_permission(self, request):
        return self._allowed(request)

    def has_view_permission(self, request, obj=None):
        return self._allowed(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._allowed(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._allowed(request, obj)

    def has_add_permission(self, request):
        return request.user.is_superuser

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "project" and self._scoped(request):
            from .models import Project

            kwargs["queryset"] = Project.objects.filter(pk__in=admin_project_ids(request.user))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

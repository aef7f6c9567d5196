from django.contrib import admin

from annotator.projects.admin_scoping import ProjectScopedAdmin

from .models import Annotation, Revision


@admin.register(Annotation)
class AnnotationAdmin(ProjectScopedAdmin):
    project_path = "image__project"
    list_display = ["id", "image", "category", "source", "score", "area"]
    list_filter = ["source", "category__project"]
    search_fields = ["image__name"]
    raw_id_fields = ["image"]


@admin.register(Revision)
class RevisionAdmin(ProjectScopedAdmin):
    """Read-only: revisions are the audit trail and are never edited."""

    project_path = "image__project"
    list_display = ["image", "version", "action", "author", "created_at"]
    list_filter = ["action", "image__project"]
    search_fields = ["image__name", "author__username", "comment"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

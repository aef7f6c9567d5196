from django.contrib import admin

from annotator.projects.admin_scoping import ProjectScopedAdmin, ReadOnlyAdminMixin

from .models import Annotation, Revision


@admin.register(Annotation)
class AnnotationAdmin(ProjectScopedAdmin):
    project_path = "image__project"
    list_display = ["id", "image", "category", "source", "score", "area"]
    list_filter = ["source", "category__project"]
    search_fields = ["image__name"]
    raw_id_fields = ["image"]


@admin.register(Revision)
class RevisionAdmin(ReadOnlyAdminMixin, ProjectScopedAdmin):
    """Read-only: revisions are the audit trail and are never edited."""

    project_path = "image__project"
    list_display = ["image", "version", "action", "author", "created_at"]
    list_filter = ["action", "image__project"]
    search_fields = ["image__name", "author__username", "comment"]

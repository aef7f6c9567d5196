from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from annotator.projects.admin_scoping import ProjectScopedAdmin

from .models import ExportJob, ImportJob


@admin.register(ExportJob)
class ExportJobAdmin(ProjectScopedAdmin):
    list_display = ["id", "project", "status", "progress", "download", "created_at"]
    list_filter = ["status", "project"]
    readonly_fields = ["download", "summary", "options", "file"]

    @admin.display(description="file")
    def download(self, obj: ExportJob) -> str:
        # Media is never served publicly; the API download checks the staff user's access.
        if not obj.pk or not obj.file:
            return "-"
        return format_html(
            '<a href="{}">{}</a>', reverse("export-download", args=[obj.pk]), obj.file.name.rsplit("/", 1)[-1]
        )


@admin.register(ImportJob)
class ImportJobAdmin(ProjectScopedAdmin):
    list_display = ["id", "project", "status", "message", "created_at"]
    list_filter = ["status", "project"]
    readonly_fields = ["report", "options"]

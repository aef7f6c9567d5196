from django.contrib import admin

from annotator.projects.admin_scoping import ProjectScopedAdmin

from .models import BatchJob


@admin.register(BatchJob)
class BatchJobAdmin(ProjectScopedAdmin):
    list_display = ["id", "project", "kind", "status", "done", "total", "created_at"]
    list_filter = ["kind", "status", "project"]

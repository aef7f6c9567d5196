from django.contrib import admin

from .models import ExportJob, ImportJob


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "status", "progress", "file", "created_at"]
    list_filter = ["status", "project"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "status", "progress", "created_at"]
    list_filter = ["status", "project"]

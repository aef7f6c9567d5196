from django.contrib import admin

from .models import BatchJob


@admin.register(BatchJob)
class BatchJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "kind", "status", "done", "total", "created_at"]
    list_filter = ["kind", "status", "project"]

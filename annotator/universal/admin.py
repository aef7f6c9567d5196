from django.contrib import admin

from .models import BaseEvaluation


@admin.register(BaseEvaluation)
class BaseEvaluationAdmin(admin.ModelAdmin):
    list_display = ["version", "project", "mask_ap", "images", "run", "created_at"]
    list_filter = ["version"]
    readonly_fields = ["version", "project", "mask_ap", "images", "metrics", "run", "created_at"]

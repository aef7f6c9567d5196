from django.contrib import admin

from annotator.projects.admin_scoping import ReadOnlyAdminMixin

from .models import BaseEvaluation, BaseTrainingLock


@admin.register(BaseEvaluation)
class BaseEvaluationAdmin(admin.ModelAdmin):
    list_display = ["version", "project", "mask_ap", "images", "run", "created_at"]
    list_filter = ["version"]
    readonly_fields = ["version", "project", "mask_ap", "images", "metrics", "run", "created_at"]


@admin.register(BaseTrainingLock)
class BaseTrainingLockAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Shown so staff can see when the lock row was last taken; it is never edited by hand."""

    list_display = ["id", "updated_at"]
    readonly_fields = ["updated_at"]

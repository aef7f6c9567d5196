from django.contrib import admin, messages

from annotator.errors import ApplicationError

from . import registry, training
from .models import (
    ModelVersion,
    Prediction,
    ProjectTraining,
    TrainingRun,
    TrustGate,
    TrustGatePin,
    TrustGateRefresh,
)
from .selectors import accepted_since_last_run


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "project",
        "parent",
        "status",
        "mask_ap",
        "prelabel_threshold",
        "created_at",
        "promoted_at",
    ]
    list_filter = ["status", "project"]
    search_fields = ["name"]
    actions = ["promote", "promote_although_worse"]

    @admin.display(description="mask AP (val)")
    def mask_ap(self, obj: ModelVersion):
        return obj.metrics.get("mask_ap")

    @admin.action(description="Promote the selected version (becomes the project's active model)")
    def promote(self, request, queryset, confirm_worse: bool = False):
        for version in queryset:
            try:
                registry.version_promote(
                    version=version,
                    user=request.user,
                    reason=f"admin by {request.user}",
                    confirm_worse=confirm_worse,
                )
                self.message_user(request, f"{version.name} promoted; pending images are being re-scored")
            except ApplicationError as exc:
                self.message_user(request, f"{version.name}: {exc.message}", messages.ERROR)

    @admin.action(description="Promote the selected version even if it is worse on val than the active model")
    def promote_although_worse(self, request, queryset):
        self.promote(request, queryset, confirm_worse=True)


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ["image", "model_version", "uncertainty", "created_at"]
    raw_id_fields = ["image"]


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "project",
        "status",
        "progress",
        "epoch",
        "epochs",
        "loss",
        "trigger",
        "message",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "project", "trigger"]
    readonly_fields = ["report"]
    actions = ["cancel"]

    @admin.action(description="Cancel the selected runs")
    def cancel(self, request, queryset):
        for run in queryset:
            try:
                training.training_run_cancel(run=run)
            except ApplicationError as exc:
                self.message_user(request, f"run #{run.pk}: {exc.message}", messages.WARNING)


@admin.register(ProjectTraining)
class ProjectTrainingAdmin(admin.ModelAdmin):
    list_display = ["name", "active_model", "retrain_threshold", "accepted_since_last_run"]
    fields = ["name", "retrain_threshold", "active_model"]
    readonly_fields = ["name", "active_model"]
    actions = ["start_training_run", "roll_back"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="accepted since last run")
    def accepted_since_last_run(self, obj):
        return accepted_since_last_run(project=obj)

    @admin.action(description="Start a training run now")
    def start_training_run(self, request, queryset):
        for project in queryset:
            try:
                run = training.training_run_request(project=project, user=request.user, trigger="manual")
                self.message_user(request, f"{project.name}: training run #{run.pk} queued")
            except ApplicationError as exc:
                self.message_user(request, f"{project.name}: {exc.message}", messages.ERROR)

    @admin.action(description="Roll back to the previous model")
    def roll_back(self, request, queryset):
        for project in queryset:
            try:
                registry.version_rollback(project=project, user=request.user)
                self.message_user(request, f"{project.name}: rolled back")
            except ApplicationError as exc:
                self.message_user(request, f"{project.name}: {exc.message}", messages.ERROR)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, not edited here: the gate learns its rows and pins go through the API, which re-shows
    the project's untouched images (an edit here would not)."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TrustGate)
class TrustGateAdmin(ReadOnlyAdmin):
    list_display = [
        "project",
        "model_version",
        "mode",
        "threshold",
        "precision",
        "recall",
        "seconds_saved_per_image",
        "reviewed_images",
        "computed_at",
    ]
    list_filter = ["mode", "project"]


@admin.register(TrustGatePin)
class TrustGatePinAdmin(ReadOnlyAdmin):
    list_display = ["project", "mode", "threshold", "changed_by", "changed_at"]


@admin.register(TrustGateRefresh)
class TrustGateRefreshAdmin(ReadOnlyAdmin):
    """A waiting gate refresh per project (``trust_refresh``): empty ``queued_at`` means none waits."""

    list_display = ["project", "queued_at"]

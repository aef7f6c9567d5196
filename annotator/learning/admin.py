from django.contrib import admin

from .models import Embedding, ModelVersion, Prediction, TrainingRun


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "parent", "status", "created_at", "promoted_at"]
    list_filter = ["status", "project"]
    search_fields = ["name"]


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ["image", "model_version", "uncertainty", "created_at"]
    raw_id_fields = ["image"]


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "status", "progress", "trigger", "created_at", "finished_at"]
    list_filter = ["status", "project", "trigger"]


@admin.register(Embedding)
class EmbeddingAdmin(admin.ModelAdmin):
    list_display = ["image", "engine_id", "status", "updated_at"]
    list_filter = ["status", "engine_id"]
    raw_id_fields = ["image"]

from django.contrib import admin

from .models import Embedding


@admin.register(Embedding)
class EmbeddingAdmin(admin.ModelAdmin):
    list_display = ["image", "engine_id", "status", "updated_at"]
    list_filter = ["status", "engine_id"]
    raw_id_fields = ["image"]

from django.contrib import admin

from generation.models import GenerationJob


@admin.register(GenerationJob)
class GenerationJobAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "mode", "status", "progress", "attempts", "created"]
    list_filter = ["status", "mode", "model_name"]
    search_fields = ["prompt", "owner__username", "idempotency_key"]
    raw_id_fields = ["owner", "source_image", "images"]
    readonly_fields = ["created", "started", "finished", "lease_until", "deadline", "enqueued_at"]

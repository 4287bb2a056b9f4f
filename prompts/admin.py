from django.contrib import admin

from prompts.models import Prompt


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "text", "created"]
    search_fields = ["text", "negative_text"]
    readonly_fields = ["normalized", "hash", "created"]

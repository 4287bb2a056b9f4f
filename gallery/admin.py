from django.contrib import admin

from gallery.models import Image


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "model_name", "width", "height", "source", "rating", "created"]
    list_filter = ["source", "rating", "model_name"]
    search_fields = ["prompt__text", "owner__username", "origin_key"]
    raw_id_fields = ["owner", "prompt", "parents"]
    readonly_fields = ["sha256", "origin_key", "created"]
    date_hierarchy = "created"

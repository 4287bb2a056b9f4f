from django.contrib import admin

from gallery.models import Collection, Image, ModerationAction, Profile, Report


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "model_name", "source", "rating", "hidden", "like_count"]
    list_filter = ["source", "rating", "hidden", "model_name"]
    search_fields = ["prompt__text", "owner__username", "origin_key"]
    raw_id_fields = ["owner", "prompt", "parents"]
    readonly_fields = ["sha256", "origin_key", "created"]
    date_hierarchy = "created"


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "owner", "visibility", "created"]
    list_filter = ["visibility"]
    search_fields = ["name", "owner__username"]
    raw_id_fields = ["owner"]


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "mature"]
    raw_id_fields = ["user"]


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    """Reports are handled on the moderation page (/moderation/), which logs what is done."""

    list_display = ["id", "image", "reporter", "reason", "open", "created"]
    list_filter = ["open", "reason"]
    raw_id_fields = ["image", "reporter"]


@admin.register(ModerationAction)
class ModerationActionAdmin(admin.ModelAdmin):
    """The moderation log: read only, so that it stays a record."""

    list_display = ["created", "action", "image_ref", "moderator", "detail"]
    list_filter = ["action"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

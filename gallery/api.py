"""Gallery API: images and the prompts they use (read-only resources)."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.permissions import AllowAny

from gallery.filters import ImageFilter
from gallery.models import Image
from gallery.selectors import (
    DEFAULT_IMAGE_ORDERING,
    IMAGE_ORDERINGS,
    image_list,
    images_visible,
)
from gallery.serializers import ImageDetailSerializer, ImageSerializer, _absolute
from prompts.models import Prompt


class ImageViewSet(viewsets.ReadOnlyModelViewSet):
    """Gallery images, newest first, keyset-paginated; filters as in `ImageFilter`."""

    permission_classes = [AllowAny]
    filterset_class = ImageFilter
    keyset_orderings = IMAGE_ORDERINGS
    default_keyset_ordering = DEFAULT_IMAGE_ORDERING

    def get_queryset(self) -> QuerySet[Image]:
        queryset = image_list(user=self.request.user)
        if self.action == "retrieve":
            queryset = queryset.prefetch_related(
                Prefetch("parents", queryset=Image.objects.only("id")),
                Prefetch("remixes", queryset=Image.objects.only("id")),
            )
        return queryset

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return ImageDetailSerializer if self.action == "retrieve" else ImageSerializer


class PromptImageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    thumbnail_url = serializers.URLField()
    page_url = serializers.URLField()


class PromptSerializer(serializers.ModelSerializer):
    """A distinct prompt pair with the images that use it."""

    negative_prompt = serializers.CharField(source="negative_text")
    prompt = serializers.CharField(source="text")
    image_count = serializers.SerializerMethodField()
    images = serializers.SerializerMethodField()

    class Meta:
        model = Prompt
        fields = ["id", "prompt", "negative_prompt", "created", "image_count", "images"]

    def get_image_count(self, prompt: Prompt) -> int:
        return len(prompt.images.all())

    @extend_schema(responses=PromptImageSerializer(many=True))
    def get_images(self, prompt: Prompt) -> list[dict[str, Any]]:
        request = self.context.get("request")
        return [
            {
                "id": image.id,
                "thumbnail_url": _absolute(request, image.thumb_small.url),
                "page_url": _absolute(request, f"/images/{image.id}/"),
            }
            for image in prompt.images.all()
        ]


class PromptViewSet(viewsets.ReadOnlyModelViewSet):
    """Prompts, newest first, each with the images that use it."""

    permission_classes = [AllowAny]
    serializer_class = PromptSerializer
    keyset_orderings = {"-created": ("-created", "-id")}

    def get_queryset(self) -> QuerySet[Prompt]:
        images = images_visible(user=self.request.user).only(
            "id", "prompt_id", "thumb_small", "created"
        )
        return Prompt.objects.prefetch_related(Prefetch("images", queryset=images))

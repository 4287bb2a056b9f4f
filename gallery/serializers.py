"""API representations of gallery images."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.files.storage import FileSystemStorage, storages
from django.utils.encoding import filepath_to_uri
from rest_framework import serializers

from gallery.models import Image


def _absolute(request: Any, url: str) -> str:
    if request is None or url.startswith(("http://", "https://")):
        return url
    # One build_absolute_uri per request, not per field: the list endpoint is hot.
    base = getattr(request, "_atelier_base_url", None)
    if base is None:
        base = request.build_absolute_uri("/").rstrip("/")
        request._atelier_base_url = base
    return base + url


def _storage_url() -> Callable[[str], str]:
    """``storage.url``, minus its per-call ``urljoin`` for local disk (a quarter of a list
    request's CPU went there); other storages (S3) keep their own ``url``."""
    storage = storages["default"]
    if isinstance(storage, FileSystemStorage):
        base = storage.base_url
        return lambda name: base + filepath_to_uri(name).lstrip("/")
    return storage.url


class ImageSerializer(serializers.Serializer):
    """One gallery image as the API contract names it.

    The fields are declared for the OpenAPI schema; ``to_representation`` builds the same keys
    by hand because ModelSerializer's per-field machinery costs most of a list request's CPU
    (a test checks the two stay in step).
    """

    id = serializers.IntegerField()
    image_url = serializers.URLField()
    thumbnail_url = serializers.URLField()
    thumbnail_large_url = serializers.URLField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    prompt = serializers.CharField()
    negative_prompt = serializers.CharField()
    prompt_id = serializers.IntegerField()
    model = serializers.CharField()
    model_hash = serializers.CharField()
    scheduler = serializers.CharField()
    steps = serializers.IntegerField(allow_null=True)
    cfg_scale = serializers.FloatField(allow_null=True)
    seed = serializers.IntegerField(allow_null=True)
    clip_skip = serializers.IntegerField(allow_null=True)
    extra = serializers.DictField()
    source = serializers.ChoiceField(choices=Image.Source.choices)
    rating = serializers.ChoiceField(choices=Image.Rating.choices)
    owner = serializers.CharField(help_text="The owner's username.")
    created = serializers.DateTimeField()
    like_count = serializers.IntegerField()
    infotext = serializers.CharField(help_text="The parameters as AUTOMATIC1111 writes them.")
    page_url = serializers.URLField()

    def to_representation(self, image: Image) -> dict[str, Any]:
        request = self.context.get("request")
        url = _storage_url()
        return {
            "id": image.id,
            "image_url": _absolute(request, url(image.file.name)),
            "thumbnail_url": _absolute(request, url(image.thumb_small.name)),
            "thumbnail_large_url": _absolute(request, url(image.thumb_large.name)),
            "width": image.width,
            "height": image.height,
            "prompt": image.prompt.text,
            "negative_prompt": image.prompt.negative_text,
            "prompt_id": image.prompt_id,
            "model": image.model_name,
            "model_hash": image.model_hash,
            "scheduler": image.scheduler,
            "steps": image.steps,
            "cfg_scale": image.cfg_scale,
            "seed": image.seed,
            "clip_skip": image.clip_skip,
            "extra": image.extra,
            "source": image.source,
            "rating": image.rating,
            "owner": image.owner.username,
            "created": image.created.isoformat().replace("+00:00", "Z"),
            "like_count": image.like_count,
            "infotext": image.infotext,
            "page_url": _absolute(request, f"/images/{image.id}/"),
        }


class ImageDetailSerializer(ImageSerializer):
    """An image with its lineage: the images it was made from, and those made from it."""

    parents = serializers.ListField(child=serializers.IntegerField())
    remixes = serializers.ListField(child=serializers.IntegerField())

    def to_representation(self, image: Image) -> dict[str, Any]:
        data = super().to_representation(image)
        data["parents"] = sorted(p.id for p in image.parents.all())
        data["remixes"] = sorted(r.id for r in image.remixes.all())
        return data


class SearchHitSerializer(ImageSerializer):
    """A search or similar-images hit: the image as in /api/images/, plus how it matched.

    Expects the ``search_score`` and ``search_matched`` attributes that
    `gallery.search.images_for_hits` sets.
    """

    score = serializers.FloatField(
        help_text="Relevance: higher is closer (not comparable across queries)."
    )
    matched = serializers.ChoiceField(
        choices=[("semantic", "semantic"), ("keyword", "keyword"), ("both", "both")]
    )

    def to_representation(self, image: Image) -> dict[str, Any]:
        data = super().to_representation(image)
        data["score"] = round(float(image.search_score), 6)
        data["matched"] = image.search_matched
        return data

"""API representations of gallery images."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.core.files.storage import FileSystemStorage, storages
from django.utils.encoding import filepath_to_uri
from rest_framework import serializers

from gallery.models import Image
from gallery.params import GenerationParams
from gallery.selectors import IMAGE_ROW_FIELDS


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

    def to_representation(self, image: Image | Mapping[str, Any]) -> dict[str, Any]:
        """From an `Image`, or from a row of `gallery.selectors.image_rows` (the list path)."""
        row = image if isinstance(image, Mapping) else _row_of(image)
        request = self.context.get("request")
        url = _storage_url()
        params = GenerationParams(
            prompt=row["prompt__text"],
            negative_prompt=row["prompt__negative_text"],
            model_name=row["model_name"],
            model_hash=row["model_hash"],
            scheduler=row["scheduler"],
            steps=row["steps"],
            cfg_scale=row["cfg_scale"],
            seed=row["seed"],
            width=row["width"],
            height=row["height"],
            clip_skip=row["clip_skip"],
            extra=row["extra"],
        )
        return {
            "id": row["id"],
            "image_url": _absolute(request, url(row["file"])),
            "thumbnail_url": _absolute(request, url(row["thumb_small"])),
            "thumbnail_large_url": _absolute(request, url(row["thumb_large"])),
            "width": row["width"],
            "height": row["height"],
            "prompt": row["prompt__text"],
            "negative_prompt": row["prompt__negative_text"],
            "prompt_id": row["prompt_id"],
            "model": row["model_name"],
            "model_hash": row["model_hash"],
            "scheduler": row["scheduler"],
            "steps": row["steps"],
            "cfg_scale": row["cfg_scale"],
            "seed": row["seed"],
            "clip_skip": row["clip_skip"],
            "extra": row["extra"],
            "source": row["source"],
            "rating": row["rating"],
            "owner": row["owner__username"],
            "created": row["created"].isoformat().replace("+00:00", "Z"),
            "like_count": row["like_count"],
            "infotext": params.infotext(),
            "page_url": _absolute(request, f"/images/{row['id']}/"),
        }


def _row_of(image: Image) -> dict[str, Any]:
    """An `Image` (owner and prompt loaded) as an `image_rows` row."""
    row = {name: getattr(image, name) for name in IMAGE_ROW_FIELDS if "__" not in name}
    for name in ("file", "thumb_small", "thumb_large"):
        row[name] = row[name].name
    row["prompt__text"] = image.prompt.text
    row["prompt__negative_text"] = image.prompt.negative_text
    row["owner__username"] = image.owner.username
    return row


class ImageDetailSerializer(ImageSerializer):
    """An image with its lineage: the images it was made from, and those made from it."""

    parents = serializers.ListField(child=serializers.IntegerField())
    remixes = serializers.ListField(child=serializers.IntegerField())
    parents_deleted = serializers.IntegerField(
        help_text="How many images this one was made from have been deleted since."
    )

    def to_representation(self, image: Image) -> dict[str, Any]:
        data = super().to_representation(image)
        data["parents_deleted"] = image.deleted_parents
        data["parents"] = sorted(p.id for p in image.parents.all())
        data["remixes"] = sorted(r.id for r in image.remixes.all())
        return data


class SearchHitSerializer(ImageSerializer):
    """A search or similar-images hit: the image as in /api/images/, plus how it matched.

    Expects the ``search_score`` and ``search_matched`` that `gallery.search.images_for_hits`
    (attributes) or `gallery.search.image_rows_for_hits` (keys) set.
    """

    score = serializers.FloatField(
        help_text="Relevance: higher is closer (not comparable across queries)."
    )
    matched = serializers.ChoiceField(
        choices=[("semantic", "semantic"), ("keyword", "keyword"), ("both", "both")]
    )

    def to_representation(self, image: Image | Mapping[str, Any]) -> dict[str, Any]:
        """From an `Image` with the attributes, or a `gallery.search.image_rows_for_hits` row."""
        data = super().to_representation(image)
        if isinstance(image, Mapping):
            score, matched = image["search_score"], image["search_matched"]
        else:
            score, matched = image.search_score, image.search_matched
        data["score"] = round(float(score), 6)
        data["matched"] = matched
        return data

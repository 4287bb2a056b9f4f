"""Writes for the gallery: storing images, their files and thumbnails."""

from __future__ import annotations

import hashlib
import io
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone
from PIL import Image as PILImage
from PIL.PngImagePlugin import PngInfo

from gallery.models import Image, trending_score
from gallery.params import GenerationParams
from prompts.services import prompt_get_or_create

logger = logging.getLogger(__name__)


def _png_bytes(pixels: PILImage.Image, infotext: str, compress_level: int = 6) -> bytes:
    """Encode as PNG with the A1111 ``parameters`` text chunk, so downloads keep their settings."""
    info = PngInfo()
    info.add_itxt("parameters", infotext)
    buffer = io.BytesIO()
    pixels.save(buffer, format="PNG", pnginfo=info, optimize=False, compress_level=compress_level)
    return buffer.getvalue()


def _thumbnail_bytes(pixels: PILImage.Image, width: int) -> bytes:
    """A WebP no wider than ``width`` (never enlarged: the browser scales small images)."""
    thumb = pixels.convert("RGB")
    if thumb.width > width:
        height = max(1, round(thumb.height * width / thumb.width))
        thumb = thumb.resize((width, height), PILImage.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumb.save(buffer, format="WEBP", quality=82, method=4)
    return buffer.getvalue()


@dataclass(frozen=True)
class EncodedImage:
    """A gallery image's files, encoded but not stored yet (see `image_encode`)."""

    png: bytes
    thumb_small: bytes
    thumb_large: bytes
    width: int
    height: int


def image_encode(
    *, pixels: PILImage.Image, params: GenerationParams, compress_level: int = 6
) -> EncodedImage:
    """Encode the PNG (with the A1111 chunk) and both thumbnails.

    CPU only, no storage and no database: ``import_images`` runs it in worker processes, with
    a lower (still lossless) ``compress_level``: 3 costs about 2/3 of 6's time, files ~15% larger.
    """
    if pixels.mode not in ("RGB", "RGBA", "L"):
        pixels = pixels.convert("RGB")
    small_width, large_width = settings.THUMBNAIL_WIDTHS
    return EncodedImage(
        png=_png_bytes(pixels, params.infotext(), compress_level),
        thumb_small=_thumbnail_bytes(pixels, small_width),
        thumb_large=_thumbnail_bytes(pixels, large_width),
        width=pixels.width,
        height=pixels.height,
    )


def _store_files(encoded: EncodedImage) -> tuple[str, str, str, str]:
    """Write the PNG and its thumbnails under a server-made name; return names and SHA-256.

    Everything is encoded before anything is written, and a failed write removes what was
    already written: a failure leaves no partial files behind.
    """
    stem = uuid.uuid4().hex
    shard = f"{stem[:2]}/{stem[2:4]}"
    small_width, large_width = settings.THUMBNAIL_WIDTHS
    planned = [
        (f"images/{shard}/{stem}.png", encoded.png),
        (f"thumbs/{small_width}/{shard}/{stem}.webp", encoded.thumb_small),
        (f"thumbs/{large_width}/{shard}/{stem}.webp", encoded.thumb_large),
    ]
    saved = files_save(planned)
    return saved[0], saved[1], saved[2], hashlib.sha256(encoded.png).hexdigest()


def files_save(planned: list[tuple[str, bytes]]) -> list[str]:
    """Save several files all-or-nothing: on any failure the ones already saved are deleted.

    The name is settled before writing, so that a write which fails halfway (a full disk)
    can remove its own partial file too: local storage leaves it behind otherwise.
    """
    saved: list[str] = []
    try:
        for name, content in planned:
            target = default_storage.get_available_name(name)
            saved.append(target)
            saved[-1] = default_storage.save(target, ContentFile(content))
    except BaseException:
        files_delete(saved)
        raise
    return saved


def files_delete(names: Iterable[str]) -> None:
    """Delete stored files, ignoring those already gone."""
    for name in names:
        if name:
            default_storage.delete(name)


def image_create(
    *,
    owner: AbstractBaseUser,
    pixels: PILImage.Image | None = None,
    params: GenerationParams,
    source: str = Image.Source.GENERATED,
    rating: str = Image.Rating.SAFE,
    parents: Iterable[Image] = (),
    origin_key: str | None = None,
    encoded: EncodedImage | None = None,
) -> Image:
    """Store one picture as a gallery image with its prompt, files and thumbnails.

    Give either ``pixels`` or their ``encoded`` files (from `image_encode`, made elsewhere).
    With an ``origin_key`` the call is idempotent: the second call with the same key returns the
    first call's row and writes nothing (the worker relies on this for exactly-once results).
    """
    if origin_key is not None:
        existing = Image.objects.filter(origin_key=origin_key).first()
        if existing is not None:
            return existing
    if encoded is None:
        if pixels is None:
            raise TypeError("image_create() needs pixels or encoded files")
        encoded = image_encode(pixels=pixels, params=params)
    prompt = prompt_get_or_create(text=params.prompt, negative_text=params.negative_prompt)
    file_name, small, large, digest = _store_files(encoded)
    try:
        with transaction.atomic():
            created = timezone.now()
            image = Image.objects.create(
                created=created,
                hot=trending_score(
                    like_count=0, created=created, half_life_hours=settings.TRENDING_HALF_LIFE_HOURS
                ),
                owner=owner,
                prompt=prompt,
                file=file_name,
                thumb_small=small,
                thumb_large=large,
                width=encoded.width,
                height=encoded.height,
                sha256=digest,
                model_name=params.model_name,
                model_hash=params.model_hash,
                scheduler=params.scheduler,
                steps=params.steps,
                cfg_scale=params.cfg_scale,
                seed=params.seed,
                clip_skip=params.clip_skip,
                extra=params.extra,
                source=source,
                rating=rating,
                origin_key=origin_key,
            )
            parent_list = list(parents)
            if parent_list:
                image.parents.set(parent_list)
    except IntegrityError:
        # Lost a race on origin_key: the other writer's row stands, our files go.
        files_delete((file_name, small, large))
        if origin_key is None:
            raise
        return Image.objects.get(origin_key=origin_key)
    except BaseException:
        files_delete((file_name, small, large))
        raise
    return image

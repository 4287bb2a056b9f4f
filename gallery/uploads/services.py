"""Writes for uploads: make a draft from a file, edit it, publish it, import a folder's files.

A draft is made in three steps: refuse exact duplicates by the SHA-256 of the bytes (before any
decoding), decode and re-encode the pixels ourselves (`safety`), read the metadata (`metadata`).
Files are written all-or-nothing and removed again if the row cannot be written.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from PIL import Image as PILImage

from gallery.models import Image, Upload
from gallery.params import GenerationParams
from gallery.selectors import images_visible
from gallery.services import (
    EncodedImage,
    _thumbnail_bytes,
    files_delete,
    files_save,
    image_create,
    image_encode,
)
from gallery.uploads.metadata import METADATA_FIELDS, metadata_clean, metadata_read
from gallery.uploads.safety import DecodedImage, UploadRefused, image_decode_untrusted
from gallery.uploads.selectors import uploads_near_duplicates

EDITABLE_FIELDS = tuple(name for name in METADATA_FIELDS if name != "generator")
PREVIEW_WIDTH = 512
# Imports come by the hundred: zlib level 3 is about 70 ms less per 1024x1024 PNG than 6.
IMPORT_PNG_COMPRESS_LEVEL = 3


@dataclass
class PreparedUpload:
    """What one file becomes before anything is written: pixels, metadata, hashes."""

    decoded: DecodedImage
    metadata: dict[str, Any]
    raw_chunks: dict[str, str]
    sha256: str
    phash: str


@dataclass
class ImportReady:
    """One file made ready to import: its row's columns, its parameters, its encoded files.

    No pixels and no model instances: it is small to pickle, so a worker process can make it.
    """

    sha256: str
    row: dict[str, Any]
    params: GenerationParams
    encoded: EncodedImage


def _raw_chunks(decoded: DecodedImage) -> dict[str, str]:
    """The file's text for a "file info" view: 64 KB a chunk, 256 KB in all."""
    kept: dict[str, str] = {}
    budget = 256 * 1024
    for name, text in decoded.chunks.items():
        # PostgreSQL's jsonb cannot hold NUL; every other character is JSON-escaped.
        piece = text[: 64 * 1024].replace("\x00", "")
        if piece and len(piece) <= budget:
            kept[name[:79]] = piece
            budget -= len(piece)
    if decoded.dropped:
        kept["(dropped)"] = "Unreadable or oversized chunks: " + ", ".join(decoded.dropped[:20])
    return kept


def _row_fields(prepared: PreparedUpload) -> dict[str, Any]:
    """The columns every upload row takes from its prepared file."""
    return {
        "original_format": prepared.decoded.format,
        "width": prepared.decoded.pixels.width,
        "height": prepared.decoded.pixels.height,
        "sha256": prepared.sha256,
        "phash": prepared.phash,
        "generator": prepared.metadata["generator"],
        "metadata": prepared.metadata,
        "raw_chunks": prepared.raw_chunks,
    }


def _phash_source(pixels: PILImage.Image) -> PILImage.Image:
    """Grey, box-reduced to about 256 px: pHash only looks at 32x32, and a LANCZOS resize of
    the full picture cost 100 ms of a 1024x1024 upload."""
    grey = pixels.convert("L")
    factor = max(1, min(grey.size) // 256)
    return grey.reduce(factor) if factor > 1 else grey


def upload_prepare(*, data: bytes, sha256: str | None = None) -> PreparedUpload:
    """Decode, clean and hash one file (no database, no storage: safe in a worker thread)."""
    import imagehash  # scipy and PyWavelets behind it: keep them out of start-up

    if len(data) > settings.MAX_UPLOAD_BYTES:
        raise upload_too_large()
    decoded = image_decode_untrusted(data=data, max_pixels=settings.MAX_IMAGE_PIXELS)
    return PreparedUpload(
        decoded=decoded,
        metadata=metadata_read(chunks=decoded.chunks),
        raw_chunks=_raw_chunks(decoded),
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        phash=str(imagehash.phash(_phash_source(decoded.pixels))),
    )


def upload_too_large() -> UploadRefused:
    """The refusal for a file over ``MAX_UPLOAD_BYTES`` (the API checks before reading, too)."""
    limit = settings.MAX_UPLOAD_BYTES / (1024 * 1024)
    return UploadRefused(f"This file is too large: the limit is {limit:g} MB.", status=413)


def _refuse_exact_duplicate(*, owner: AbstractBaseUser, sha256: str) -> None:
    """Same bytes as a gallery image or one of the owner's drafts: refuse, pointing at it."""
    published = (
        Upload.objects.filter(sha256=sha256, image__in=images_visible(user=owner))
        .values_list("image_id", flat=True)
        .first()
    )
    if published is None:
        published = images_visible(user=owner).filter(sha256=sha256).values_list("id", flat=True)
        published = published.first()
    if published is not None:
        raise UploadRefused(
            "This exact file is already in the gallery.",
            status=409,
            existing={"image_id": published, "page_url": f"/images/{published}/"},
        )
    draft = Upload.objects.filter(owner=owner, sha256=sha256).values_list("id", flat=True).first()
    if draft is not None:
        raise UploadRefused(
            "You have already uploaded this file; it is waiting in your drafts.",
            status=409,
            existing={"upload_id": draft},
        )


def _png(pixels: PILImage.Image) -> bytes:
    buffer = io.BytesIO()
    # A draft is temporary: fast compression; publishing writes the final PNG.
    pixels.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def upload_create(*, owner: AbstractBaseUser, data: bytes) -> Upload:
    """Make a draft from an uploaded file, or raise `UploadRefused` with a sentence and status."""
    sha256 = hashlib.sha256(data).hexdigest()
    _refuse_exact_duplicate(owner=owner, sha256=sha256)
    prepared = upload_prepare(data=data, sha256=sha256)
    pixels = prepared.decoded.pixels
    stem = uuid.uuid4().hex
    names = files_save(
        [
            (f"uploads/{stem[:2]}/{stem}.png", _png(pixels)),
            (f"uploads/{stem[:2]}/{stem}.webp", _thumbnail_bytes(pixels, PREVIEW_WIDTH)),
        ]
    )
    try:
        with transaction.atomic():
            return Upload.objects.create(
                owner=owner,
                file=names[0],
                preview=names[1],
                **_row_fields(prepared),
                near_duplicates=uploads_near_duplicates(owner=owner, phash=prepared.phash),
            )
    except IntegrityError:
        files_delete(names)
        _refuse_exact_duplicate(owner=owner, sha256=sha256)  # lost a race: say what won
        raise
    except BaseException:
        files_delete(names)
        raise


def _require_draft(upload: Upload) -> None:
    if upload.status != Upload.Status.DRAFT:
        raise UploadRefused(
            "This upload is already published; it can no longer be edited.", status=409
        )


def upload_update(*, upload: Upload, changes: dict[str, Any]) -> Upload:
    """Apply the owner's edits (already validated) to a draft's metadata and rating."""
    _require_draft(upload)
    edited = {**upload.metadata, **{k: v for k, v in changes.items() if k in EDITABLE_FIELDS}}
    upload.metadata = metadata_clean(edited)
    if "rating" in changes:
        upload.rating = changes["rating"]
    upload.save(update_fields=["metadata", "rating", "updated"])
    return upload


def _params(metadata: dict[str, Any], pixels: PILImage.Image) -> GenerationParams:
    return GenerationParams(
        prompt=metadata.get("prompt") or "",
        negative_prompt=metadata.get("negative_prompt") or "",
        model_name=metadata.get("model") or "",
        model_hash=metadata.get("model_hash") or "",
        scheduler=metadata.get("scheduler") or "",
        steps=metadata.get("steps"),
        cfg_scale=metadata.get("cfg_scale"),
        seed=metadata.get("seed"),
        width=metadata.get("width") or pixels.width,
        height=metadata.get("height") or pixels.height,
        clip_skip=metadata.get("clip_skip"),
        extra=dict(metadata.get("extra") or {}),
    )


def upload_publish(*, upload: Upload) -> Image:
    """Publish a draft as a gallery image (idempotent: publishing twice gives the same image).

    The gallery image is written by `image_create` from the draft's pixels, with the edited
    parameters in the PNG's A1111 ``parameters`` chunk; the draft's files go once it is done.
    """
    if upload.status == Upload.Status.PUBLISHED and upload.image_id is not None:
        return upload.image
    with upload.file.open("rb") as handle:
        pixels = PILImage.open(handle, formats=["PNG"])
        pixels.load()
    image = image_create(
        owner=upload.owner,
        pixels=pixels,
        params=_params(upload.metadata, pixels),
        source=upload.source,
        rating=upload.rating,
        origin_key=f"upload:{upload.pk}",
    )
    draft_files = [upload.file.name, upload.preview.name]
    with transaction.atomic():
        updated = Upload.objects.filter(pk=upload.pk, status=Upload.Status.DRAFT).update(
            status=Upload.Status.PUBLISHED, image=image, file="", preview=""
        )
        if updated:
            transaction.on_commit(lambda: files_delete(draft_files))
    upload.refresh_from_db()
    return image


def upload_delete(*, upload: Upload) -> None:
    """Throw a draft away with its files (a published upload's image stays)."""
    _require_draft(upload)
    names = [upload.file.name, upload.preview.name]
    upload.delete()
    transaction.on_commit(lambda: files_delete(names))


def upload_import_check(*, owner: AbstractBaseUser, sha256: str) -> Upload | None:
    """The owner's upload of these bytes if there is one; `UploadRefused` (409) if the same
    bytes are a gallery image already. Cheap: run it before decoding anything."""
    existing = Upload.objects.filter(owner=owner, sha256=sha256).first()
    if existing is None:
        _refuse_exact_duplicate(owner=owner, sha256=sha256)
    return existing


def upload_import_prepare(*, data: bytes, sha256: str | None = None) -> ImportReady:
    """The CPU-heavy part of an import: decode, read metadata, hash, encode the final PNG and
    its thumbnails. No database and no storage, so ``import_images`` runs it in worker
    processes; refusals are `UploadRefused`, which pickles with its status."""
    prepared = upload_prepare(data=data, sha256=sha256)
    pixels = prepared.decoded.pixels
    params = _params(prepared.metadata, pixels)
    return ImportReady(
        sha256=prepared.sha256,
        row=_row_fields(prepared),
        params=params,
        encoded=image_encode(
            pixels=pixels, params=params, compress_level=IMPORT_PNG_COMPRESS_LEVEL
        ),
    )


def upload_import_write(
    *, owner: AbstractBaseUser, ready: ImportReady, rating: str = Image.Rating.SAFE
) -> tuple[Upload, bool]:
    """Store a prepared file as the owner's imported gallery image; ``(upload, False)`` if it
    is there already (another copy of the same bytes may have been written meanwhile)."""
    existing = upload_import_check(owner=owner, sha256=ready.sha256)
    if existing is not None:
        return existing, False
    image = image_create(
        owner=owner,
        encoded=ready.encoded,
        params=ready.params,
        source=Image.Source.IMPORTED,
        rating=rating,
        origin_key=f"import:{owner.pk}:{ready.sha256}",
    )
    try:
        with transaction.atomic():
            upload = Upload.objects.create(
                owner=owner,
                status=Upload.Status.PUBLISHED,
                source=Image.Source.IMPORTED,
                **ready.row,
                rating=rating,
                image=image,
            )
    except IntegrityError:
        return Upload.objects.get(owner=owner, sha256=ready.sha256), False
    return upload, True


def upload_import(
    *, owner: AbstractBaseUser, data: bytes, rating: str = Image.Rating.SAFE
) -> tuple[Upload, bool]:
    """Import one file straight into the gallery; ``(upload, False)`` if it was already there.

    Idempotent per owner and file content, which makes ``import_images`` resumable: a second
    run finds each file's row and skips it before decoding anything. The same three steps as
    the command's process pool: check, prepare, write.
    """
    sha256 = hashlib.sha256(data).hexdigest()
    existing = upload_import_check(owner=owner, sha256=sha256)
    if existing is not None:
        return existing, False
    ready = upload_import_prepare(data=data, sha256=sha256)
    return upload_import_write(owner=owner, ready=ready, rating=rating)

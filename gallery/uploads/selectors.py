"""Reads for uploads, always scoped to the person asking."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.http import Http404

from gallery.models import Image, Upload
from gallery.uploads.reproducibility import reproducibility_assess

# Hamming distance between 64-bit pHashes at or under which two images look the same
# (re-encodes and resizes land at 0-6; unrelated pictures around 32).
NEAR_DUPLICATE_DISTANCE = 8
MAX_NEAR_DUPLICATES = 10


def uploads_of(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Upload]:
    """A person's own uploads; nobody else's, ever (strangers get an empty set)."""
    if not user.is_authenticated:
        return Upload.objects.none()
    return Upload.objects.filter(owner=user)


def upload_get(*, upload_id: int, user: AbstractBaseUser | AnonymousUser) -> Upload:
    """One of the viewer's uploads, or Http404 (another person's draft does not exist to them)."""
    upload = uploads_of(user=user).filter(pk=upload_id).first()
    if upload is None:
        raise Http404("There is no such upload.")
    return upload


def upload_reproducibility(*, upload: Upload) -> dict[str, Any]:
    """Whether our worker could render this upload again, and what is known or missing."""
    return reproducibility_assess(metadata=upload.metadata, models=settings.SD_MODELS)


def uploads_near_duplicates(
    *, owner: AbstractBaseUser, phash: str, exclude_id: int | None = None
) -> list[dict[str, Any]]:
    """Published images, and the owner's own drafts, that look like this pHash.

    A linear scan over 16-hex-digit hashes: fine to tens of thousands of uploads; a BK-tree
    or banded index is the next step beyond that.
    """
    wanted = int(phash, 16)
    published = Upload.objects.filter(image__isnull=False)
    own_drafts = Upload.objects.filter(owner=owner, status=Upload.Status.DRAFT)
    rows = (published | own_drafts).exclude(pk=exclude_id).values_list("id", "phash", "image_id")
    found = []
    for upload_id, other, image_id in rows.iterator(chunk_size=2000):
        try:
            distance = (wanted ^ int(other, 16)).bit_count()
        except ValueError:
            continue
        if distance <= NEAR_DUPLICATE_DISTANCE:
            entry: dict[str, Any] = {"distance": distance}
            if image_id is not None:
                entry.update(image_id=image_id, page_url=f"/images/{image_id}/")
            else:
                entry["upload_id"] = upload_id
            found.append(entry)
    found.sort(key=lambda entry: entry["distance"])
    return found[:MAX_NEAR_DUPLICATES]


REPRODUCIBILITY_NOTES = {
    "reproducible": "Reproducible here",
    "partial": "Partly reproducible",
    "no": "Not reproducible",
}
_FIELD_LABELS = {
    "model": "model",
    "model_hash": "model hash",
    "scheduler": "sampler",
    "steps": "steps",
    "cfg_scale": "CFG scale",
    "seed": "seed",
    "size": "size",
}


def upload_file_info(
    *, image: Image, user: AbstractBaseUser | AnonymousUser
) -> dict[str, Any] | None:
    """The "file info" of an uploaded or imported image's page (None for generated images).

    The reproducibility note is for everyone. The text chunks the file carried (A1111's PNG
    Info) are for the image's owner only: they are untrusted and unfiltered, and can hold what
    we strip from every served file (XMP with GPS, author names, local paths in a workflow).
    Templates show them escaped, as text.
    """
    if image.source == Image.Source.GENERATED:
        return None
    upload = Upload.objects.filter(image=image).only("metadata", "raw_chunks").first()
    if upload is None:
        return None
    assessed = upload_reproducibility(upload=upload)
    chunks = None
    if user.is_authenticated and user.pk == image.owner_id:
        raw = upload.raw_chunks if isinstance(upload.raw_chunks, dict) else {}
        chunks = [(str(name), str(text)) for name, text in raw.items()]
    return {
        "verdict": assessed["verdict"],
        "note": REPRODUCIBILITY_NOTES.get(assessed["verdict"], assessed["verdict"]),
        "known": [_FIELD_LABELS[name] for name in assessed["known"]],
        "missing": [_FIELD_LABELS[name] for name in assessed["missing"]],
        "scheduler_supported": assessed["scheduler_supported"],
        "model_available": assessed["model_available"],
        "chunks": chunks,
    }

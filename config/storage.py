"""Media on S3-compatible object storage (AWS S3, MinIO, Ceph, R2...) through django-storages.

Two things we decide rather than leave to guessing: every object's ``Content-Type`` comes from
our own table of the few kinds of files we write (never from the client, never "sniffed" from a
name with an odd extension), with ``nosniff``-friendly types and a download disposition for
anything unexpected; and no object is ever written with a public ACL (``default_acl`` is None,
so the bucket's policy decides, and URLs are signed unless a CDN domain is configured).
Stored names are random and never rewritten, so objects may be cached forever.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from storages.backends.s3 import S3Storage

CONTENT_TYPES = {
    ".png": "image/png",
    ".webp": "image/webp",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
}
FALLBACK_CONTENT_TYPE = "application/octet-stream"


def content_type_for(name: str) -> str:
    """The Content-Type we serve a stored file with, decided by our own table."""
    return CONTENT_TYPES.get(PurePosixPath(name).suffix.lower(), FALLBACK_CONTENT_TYPE)


class MediaS3Storage(S3Storage):
    """S3 storage with our Content-Type on every object and nothing public-read."""

    default_acl = None
    file_overwrite = False

    def get_object_parameters(self, name: str) -> dict[str, Any]:
        params = dict(super().get_object_parameters(name))
        params.pop("ACL", None)
        params["ContentType"] = content_type_for(name)
        params.setdefault("CacheControl", "max-age=31536000, immutable")
        if params["ContentType"] == FALLBACK_CONTENT_TYPE:
            params["ContentDisposition"] = "attachment"
        return params

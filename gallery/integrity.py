"""Integrity of what the database says against what storage holds.

An image row is only as good as its files: a disk restored from an older backup, a bucket
lifecycle rule or a crash between a write and its rollback can leave rows without files, files
with other bytes than the row's SHA-256, or files no row points at. ``integrity_check`` finds
all three, plus prompts still waiting for their embedding, streaming rows so that it runs in
constant memory per row (the set of referenced names is the one thing it keeps).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.core.files.storage import Storage, default_storage

from gallery.models import Image, Upload
from prompts.selectors import prompts_missing_embedding

# Storage folders whose every file must belong to a row; others (health probes, masks kept in
# JSON) are not scanned for orphans.
OWNED_FOLDERS = ("images", "thumbs", "uploads")
HASH_CHUNK = 1024 * 1024


@dataclass
class IntegrityReport:
    """What is wrong, by kind; ``ok`` when nothing is."""

    images_checked: int = 0
    missing_files: list[tuple[int, str]] = field(default_factory=list)
    hash_mismatches: list[tuple[int, str]] = field(default_factory=list)
    orphan_files: list[str] = field(default_factory=list)
    prompts_without_embedding: int = 0

    @property
    def ok(self) -> bool:
        return not (
            self.missing_files
            or self.hash_mismatches
            or self.orphan_files
            or self.prompts_without_embedding
        )


def _sha256(storage: Storage, name: str) -> str:
    digest = hashlib.sha256()
    with storage.open(name, "rb") as handle:
        for chunk in iter(lambda: handle.read(HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def storage_walk(storage: Storage, folder: str) -> Iterator[str]:
    """Every file name under ``folder``, through the storage API (local disk or S3 alike)."""
    try:
        folders, files = storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in files:
        yield f"{folder}/{name}"
    for sub in folders:
        yield from storage_walk(storage, f"{folder}/{sub}")


def integrity_check(
    *, verify_hashes: bool = True, storage: Storage | None = None
) -> IntegrityReport:
    """Compare every image and upload row with storage; see the module docstring."""
    storage = storage or default_storage
    report = IntegrityReport()
    referenced: set[str] = set()
    rows = Image.objects.values_list("id", "file", "thumb_small", "thumb_large", "sha256")
    for image_id, file, small, large, sha256 in rows.iterator(chunk_size=2000):
        report.images_checked += 1
        for name in (file, small, large):
            referenced.add(name)
            if not storage.exists(name):
                report.missing_files.append((image_id, name))
        if verify_hashes and storage.exists(file) and _sha256(storage, file) != sha256:
            report.hash_mismatches.append((image_id, file))
    for names in Upload.objects.values_list("file", "preview").iterator(chunk_size=2000):
        referenced.update(name for name in names if name)
    for folder in OWNED_FOLDERS:
        report.orphan_files.extend(n for n in storage_walk(storage, folder) if n not in referenced)
    report.prompts_without_embedding = (
        prompts_missing_embedding().filter(images__isnull=False).distinct().count()
    )
    return report


def orphans_delete(*, names: list[str], storage: Storage | None = None) -> int:
    """Delete orphan files found by `integrity_check`; returns how many went."""
    storage = storage or default_storage
    for name in names:
        storage.delete(name)
    return len(names)

"""``manage.py check_integrity``: rows against files, hashes, orphans and missing embeddings."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gallery.integrity import integrity_check, orphans_delete

SHOWN = 20


class Command(BaseCommand):
    help = (
        "Check that every image row has its files with a matching SHA-256, that every file "
        "under images/, thumbs/ and uploads/ belongs to a row, and that every prompt in use has "
        "an embedding. Exits with status 1 when anything is wrong."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-hashes", action="store_true", help="Check that files exist, not their bytes."
        )
        parser.add_argument(
            "--delete-orphans", action="store_true", help="Delete files that no row points at."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = integrity_check(verify_hashes=not options["no_hashes"])
        self.stdout.write(f"{report.images_checked} images checked")
        self._list("missing files", [f"image {i}: {n}" for i, n in report.missing_files])
        self._list("SHA-256 mismatches", [f"image {i}: {n}" for i, n in report.hash_mismatches])
        self._list("orphan files", report.orphan_files)
        if report.prompts_without_embedding:
            self.stdout.write(
                f"{report.prompts_without_embedding} prompts in use have no embedding yet "
                "(run `manage.py reindex_embeddings`)"
            )
        if options["delete_orphans"] and report.orphan_files:
            deleted = orphans_delete(names=report.orphan_files)
            self.stdout.write(f"deleted {deleted} orphan files")
            report.orphan_files = []
        if not report.ok:
            raise CommandError("integrity problems found (listed above)")
        self.stdout.write(self.style.SUCCESS("everything is consistent"))

    def _list(self, title: str, lines: list[str]) -> None:
        if not lines:
            return
        self.stdout.write(f"{len(lines)} {title}:")
        for line in lines[:SHOWN]:
            self.stdout.write(f"  {line}")
        if len(lines) > SHOWN:
            self.stdout.write(f"  ... and {len(lines) - SHOWN} more")

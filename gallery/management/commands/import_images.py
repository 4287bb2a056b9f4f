"""``manage.py import_images DIR --owner USER``: bring a whole output folder into the gallery.

Resumable and idempotent: each file is keyed by its owner and the SHA-256 of its bytes, so a
second run (or a run after a crash) skips what is already in and imports the rest. A file that
cannot be read is reported and skipped; one bad file never stops the run. Files are decoded and
encoded in a few threads (Pillow and zlib release the GIL), each with its own DB connection.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from gallery.models import Image
from gallery.uploads.safety import UploadRefused
from gallery.uploads.services import upload_import

SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


def _import_one(owner: Any, path: Path, rating: str) -> tuple[str, str]:
    """(outcome, message) for one file: imported, already, skipped."""
    try:
        if path.stat().st_size > settings.MAX_UPLOAD_BYTES:
            return "skipped", f"{path}: larger than MAX_UPLOAD_BYTES"
        _, created = upload_import(owner=owner, data=path.read_bytes(), rating=rating)
    except UploadRefused as exc:
        return ("already" if exc.status == 409 else "skipped"), f"{path}: {exc.message}"
    except OSError as exc:
        return "skipped", f"{path}: {exc.strerror or exc}"
    return ("imported" if created else "already"), ""


class Command(BaseCommand):
    help = "Import every PNG/JPEG/WebP under DIR into the gallery as USER's images."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path)
        parser.add_argument("--owner", required=True, help="username the images belong to")
        parser.add_argument(
            "--rating", default=Image.Rating.SAFE, choices=["safe", "suggestive", "explicit"]
        )
        parser.add_argument(
            "--jobs", type=int, default=min(4, os.cpu_count() or 1), help="parallel files"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        directory: Path = options["directory"]
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a folder.")
        try:
            owner = get_user_model().objects.get(username=options["owner"])
        except get_user_model().DoesNotExist:
            raise CommandError(f"There is no user {options['owner']!r}.") from None
        paths = sorted(
            p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
        )
        counts: Counter[str] = Counter()
        problems: list[str] = []
        jobs = max(1, options["jobs"])

        def run(path: Path) -> tuple[str, str]:
            try:
                return _import_one(owner, path, options["rating"])
            finally:
                if jobs > 1:  # a pool thread's own connection
                    connection.close()

        if jobs == 1:
            results = map(run, paths)
        else:
            pool = ThreadPoolExecutor(max_workers=jobs)
            results = pool.map(run, paths)
        for done, (outcome, message) in enumerate(results, start=1):
            counts[outcome] += 1
            if message and outcome == "skipped":
                problems.append(message)
            self._progress(done, len(paths), counts)
        if jobs > 1:
            pool.shutdown()
        self.stderr.write("")
        for message in problems:
            self.stderr.write(f"skipped {message}")
        self.stdout.write(
            f"{counts['imported']} imported, {counts['already']} already there, "
            f"{counts['skipped']} skipped (of {len(paths)} files)"
        )

    def _progress(self, done: int, total: int, counts: Counter[str]) -> None:
        """A one-line bar on stderr, redrawn in place on a terminal."""
        width = 30
        filled = width * done // max(total, 1)
        line = (
            f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
            f"({counts['imported']} new, {counts['already']} known, {counts['skipped']} skipped)"
        )
        end = "\r" if sys.stderr.isatty() and done < total else "\n"
        if end == "\n" and done < total and done % 50:
            return  # not a terminal: one line every 50 files
        self.stderr.write(line, ending=end)

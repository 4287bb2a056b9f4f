"""``manage.py import_images DIR --owner USER``: bring a whole output folder into the gallery.

Resumable and idempotent: each file is keyed by its owner and the SHA-256 of its bytes, so a
second run (or a run after a crash) skips what is already in and imports the rest. A file that
cannot be read is reported and skipped; one bad file never stops the run.

With ``--jobs N`` (N > 1) the CPU-heavy part of each file (decode, metadata, hashes, final PNG
and thumbnails: `upload_import_prepare`) runs in N forked worker processes, which never touch
the database or the storage; this process reads the files, checks for duplicates before
sending them, and writes every file and row itself, in folder order. (Threads did not help:
two were slower than one in bench/uploads.py.)
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sys
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from gallery.models import Image
from gallery.uploads.safety import UploadRefused
from gallery.uploads.services import (
    upload_import,
    upload_import_check,
    upload_import_prepare,
    upload_import_write,
)

SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


def _outcome(path: Path, step: Callable[[], tuple[Any, bool]]) -> tuple[str, str]:
    """(outcome, message) of one step for one file: imported, already, skipped."""
    try:
        _, created = step()
    except (UploadRefused, OSError) as exc:
        return _refusal(path, exc)
    return ("imported" if created else "already"), ""


def _refusal(path: Path, exc: UploadRefused | OSError) -> tuple[str, str]:
    if isinstance(exc, UploadRefused):
        return ("already" if exc.status == 409 else "skipped"), f"{path}: {exc.message}"
    return "skipped", f"{path}: {exc.strerror or exc}"


def _read(path: Path) -> bytes:
    if path.stat().st_size > settings.MAX_UPLOAD_BYTES:
        raise UploadRefused("larger than MAX_UPLOAD_BYTES", status=413)
    return path.read_bytes()


def _serial(owner: Any, paths: list[Path], rating: str) -> Iterator[tuple[str, str]]:
    for path in paths:
        yield _outcome(
            path, lambda path=path: upload_import(owner=owner, data=_read(path), rating=rating)
        )


def _pooled(owner: Any, paths: list[Path], rating: str, jobs: int) -> Iterator[tuple[str, str]]:
    """Prepare files in ``jobs`` worker processes, a few ahead; write them here, in order."""
    # Forked workers start with Django set up as here (settings, apps); they use neither the
    # inherited database connection nor the storage, and leave through os._exit.
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork"))
    pending: deque[tuple[Path, Future | tuple[str, str]]] = deque()

    def finish(path: Path, job: Future | tuple[str, str]) -> tuple[str, str]:
        if isinstance(job, tuple):  # settled here, before any decoding
            return job
        return _outcome(
            path, lambda: upload_import_write(owner=owner, ready=job.result(), rating=rating)
        )

    try:
        for path in paths:
            job: Future | tuple[str, str]
            try:
                data = _read(path)
                sha256 = hashlib.sha256(data).hexdigest()
                known = upload_import_check(owner=owner, sha256=sha256)
            except (UploadRefused, OSError) as exc:
                job = _refusal(path, exc)
            else:  # only files not in yet go to a worker
                job = (
                    ("already", "")
                    if known
                    else pool.submit(upload_import_prepare, data=data, sha256=sha256)
                )
            pending.append((path, job))
            while len(pending) > 2 * jobs:
                yield finish(*pending.popleft())
        while pending:
            yield finish(*pending.popleft())
    finally:
        pool.shutdown(cancel_futures=True)


class Command(BaseCommand):
    help = "Import every PNG/JPEG/WebP under DIR into the gallery as USER's images."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path)
        parser.add_argument("--owner", required=True, help="username the images belong to")
        parser.add_argument(
            "--rating", default=Image.Rating.SAFE, choices=["safe", "suggestive", "explicit"]
        )
        parser.add_argument(
            "--jobs",
            type=int,
            default=min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1),
            help="worker processes that decode and encode (1: all in this process)",
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
        rating = options["rating"]
        if jobs > 1 and "fork" in multiprocessing.get_all_start_methods():
            results = _pooled(owner, paths, rating, jobs)
        else:
            results = _serial(owner, paths, rating)
        for done, (outcome, message) in enumerate(results, start=1):
            counts[outcome] += 1
            if message and outcome == "skipped":
                problems.append(message)
            self._progress(done, len(paths), counts)
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

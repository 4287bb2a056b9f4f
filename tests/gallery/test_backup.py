"""A backup restored into a fresh database and media folder finds every row and file."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from django.db import connection

from gallery.backup import BackupError, site_backup, site_restore

pytestmark = pytest.mark.django_db(transaction=True)


def _fresh_database(tmp_path: Path) -> dict:
    """An empty database of the same engine as the test database."""
    target = dict(connection.settings_dict)
    if connection.vendor == "sqlite":
        target["NAME"] = str(tmp_path / "restored.sqlite3")
    else:
        target["NAME"] = f"restored_{abs(hash(str(tmp_path))) % 10**8}"
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{target["NAME"]}"')
    return target


def _drop(database: dict) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database["NAME"]}" WITH (FORCE)')


def _query(database: dict, sql: str) -> list[tuple]:
    if connection.vendor == "sqlite":
        with sqlite3.connect(database["NAME"]) as db:
            return db.execute(sql).fetchall()
    import psycopg

    with psycopg.connect(
        host=database["HOST"],
        user=database["USER"],
        dbname=database["NAME"],
        port=database["PORT"] or None,
        password=database["PASSWORD"] or None,
    ) as db:
        return db.execute(sql).fetchall()


def test_a_restored_backup_has_every_row_and_every_file(make_image, tmp_path, bob):
    # GIVEN a small site: two owners, three images, one of them a remix
    first = make_image(prompt="a lighthouse at dawn")
    second = make_image(owner=bob, prompt="a fox in the snow")
    make_image(prompt="a fox at the lighthouse", parents=[first, second])
    # WHEN it is backed up and restored into an empty database and media folder
    manifest = site_backup(destination=tmp_path / "backup")
    restored = _fresh_database(tmp_path)
    media = tmp_path / "restored-media"
    try:
        site_restore(source=tmp_path / "backup", database=restored, media_root=media)
        # THEN every table has its rows again
        for table, count in manifest["rows"].items():
            assert _query(restored, f"SELECT COUNT(*) FROM {table}")[0][0] == count, table
        assert manifest["rows"]["gallery_image"] == 3
        # AND every image's files are there, with the bytes the row's SHA-256 names
        rows = _query(restored, "SELECT file, thumb_small, thumb_large, sha256 FROM gallery_image")
        for file, small, large, sha256 in rows:
            assert (media / small).is_file() and (media / large).is_file()
            assert hashlib.sha256((media / file).read_bytes()).hexdigest() == sha256
        assert len(_query(restored, "SELECT * FROM gallery_image_parents")) == 2
    finally:
        _drop(restored)


def test_restore_refuses_a_media_folder_that_is_not_empty(make_image, tmp_path):
    make_image()
    site_backup(destination=tmp_path / "backup")
    media = tmp_path / "media-in-use"
    media.mkdir()
    (media / "something.png").write_bytes(b"x")
    with pytest.raises(BackupError, match="not empty"):
        site_restore(source=tmp_path / "backup", database={}, media_root=media)


def test_backup_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(BackupError, match="not empty"):
        site_backup(destination=tmp_path)

"""``manage.py backup_site DIR``: the database and the media folder into one new folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gallery.backup import BackupError, site_backup


class Command(BaseCommand):
    help = "Back up the database (pg_dump or SQLite's backup API) and MEDIA_ROOT into DIR."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("destination", type=Path, help="A new or empty folder.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            manifest = site_backup(destination=options["destination"])
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        rows = sum(manifest["rows"].values())
        self.stdout.write(self.style.SUCCESS(f"backed up {rows} rows and the media folder"))

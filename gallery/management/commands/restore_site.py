"""``manage.py restore_site DIR``: a `backup_site` folder into the configured, empty site."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from gallery.backup import BackupError, site_restore


class Command(BaseCommand):
    help = (
        "Restore a backup_site folder into the configured database and MEDIA_ROOT, both of "
        "which must be empty (a fresh `createdb`, no `migrate`; the dump brings the schema)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        connections["default"].close()  # the restore tools (or a file copy) take over
        try:
            manifest = site_restore(
                source=options["source"],
                database=settings.DATABASES["default"],
                media_root=Path(settings.MEDIA_ROOT),
            )
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"restored the backup of {manifest['created']}"))

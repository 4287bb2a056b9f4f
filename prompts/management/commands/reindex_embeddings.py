"""``manage.py reindex_embeddings``: embed every prompt missing a current vector, in batches."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from prompts.embeddings import embedding_model_name
from prompts.models import Prompt
from prompts.selectors import prompts_missing_embedding
from prompts.services import prompt_embeddings_backfill
from prompts.vectors import vector_schema_ensure


class Command(BaseCommand):
    help = (
        "Embed prompts that have no vector from the configured model (EMBEDDING_MODEL), in "
        "resumable batches with a progress bar. --all re-embeds every prompt."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all", action="store_true", help="Re-embed every prompt.")
        parser.add_argument("--batch-size", type=int, default=settings.EMBEDDING_BATCH_SIZE * 4)
        parser.add_argument("--limit", type=int, default=None, help="Stop after this many.")
        parser.add_argument(
            "--after-id", type=int, default=0, help="Resume an --all run after this prompt id."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        vector_schema_ensure()
        everything = options["all"]
        pending = Prompt.objects.all() if everything else prompts_missing_embedding()
        total = pending.filter(id__gt=options["after_id"]).count()
        if options["limit"] is not None:
            total = min(total, options["limit"])
        started = time.monotonic()
        done = 0

        def progress(last_id: int, count: int) -> None:
            nonlocal done
            done += count
            rate = done / max(time.monotonic() - started, 1e-6)
            filled = int(30 * done / max(total, 1))
            self.stdout.write(
                f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total} "
                f"{rate:.0f} prompts/s, last id {last_id}",
                ending="",
            )
            self.stdout.flush()

        written = prompt_embeddings_backfill(
            everything=everything,
            batch_size=options["batch_size"],
            limit=options["limit"],
            after_id=options["after_id"],
            on_batch=progress,
        )
        self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(
                f"{written} vectors written for {done} prompts with {embedding_model_name()} "
                f"in {time.monotonic() - started:.1f} s."
            )
        )

"""``manage.py load_demo``: fill an empty gallery with demo images (idempotent)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandParser

from generation.demo import demo_load


class Command(BaseCommand):
    help = "Render the demo gallery with the configured model; running it again adds nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=60)
        parser.add_argument("--steps", type=int, default=8)

    def handle(self, *args: object, count: int, steps: int, **options: object) -> None:
        started = time.monotonic()
        added = demo_load(count=count, steps=steps, echo=self.stdout.write)
        seconds = time.monotonic() - started
        self.stdout.write(f"Demo gallery: {added} images added in {seconds:.1f} s.")

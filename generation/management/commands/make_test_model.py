"""``manage.py make_test_model DIR``: build the tiny random Stable Diffusion model offline.

A fresh clone has no model weights and may have no network; this gives the worker a real
pipeline to run (pictures are noise) so the whole generation path works from the first minute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Build the tiny randomly-initialised SD pipeline used by tests and demos into DIR."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path, help="Folder for the diffusers model.")
        parser.add_argument("--seed", type=int, default=0, help="Weights seed (default 0).")
        parser.add_argument(
            "--force", action="store_true", help="Rebuild even if DIR already holds a model."
        )

    def handle(self, *args: Any, directory: Path, seed: int, force: bool, **options: Any) -> None:
        directory = directory.expanduser().resolve()
        if (directory / "model_index.json").is_file() and not force:
            self.stdout.write(f"A model is already in {directory}; use --force to rebuild it.")
            return
        if directory.exists() and not directory.is_dir():
            raise CommandError(f"{directory} exists and is not a folder.")
        if directory.is_dir() and any(directory.iterdir()) and not force:
            # Never wipe a folder we did not make: building replaces the folder.
            raise CommandError(f"{directory} is not empty; use --force to replace it.")

        from generation.testmodel import build_test_model, single_file_path

        build_test_model(directory, seed=seed)
        self.stdout.write(self.style.SUCCESS(f"Built the tiny test model in {directory}"))
        self.stdout.write(f"Single-file checkpoint: {single_file_path(directory)}")

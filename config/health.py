"""Health and readiness probes for load balancers and orchestrators.

``/health/`` answers whether this instance can do its work: the database answers a query, the
broker accepts a connection, and the media storage takes a write. ``/ready/`` answers whether it
should get traffic now: the database answers and every migration is applied (a web process that
starts before ``migrate`` finished must not serve). Both are plain JSON, never cached, with 200
when every check passes and 503 otherwise, and neither needs a session or a template, so they
keep answering while the rest of the site is down.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

BROKER_TIMEOUT_SECONDS = 2.0


def check_database() -> None:
    """One round trip to the default database."""
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_broker() -> None:
    """Open (and close) a connection to the Celery broker, giving up after a short timeout."""
    from kombu import Connection

    with Connection(
        settings.CELERY_BROKER_URL,
        connect_timeout=BROKER_TIMEOUT_SECONDS,
        transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
    ) as connection:
        connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)


def check_storage() -> None:
    """Write, read back and delete a tiny object in the media storage (a full disk fails here)."""
    name = default_storage.save(f"health/{uuid.uuid4().hex}.txt", ContentFile(b"ok"))
    try:
        with default_storage.open(name) as handle:
            if handle.read() != b"ok":
                raise OSError("the media storage returned other bytes than were written")
    finally:
        default_storage.delete(name)


def check_migrations() -> None:
    """Fail while any migration is still unapplied."""
    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        raise RuntimeError(f"{len(plan)} migration(s) not applied")


def run_checks(checks: dict[str, Callable[[], None]]) -> tuple[bool, dict[str, dict]]:
    """Run each check, timing it; one failing check does not stop the others."""
    results: dict[str, dict] = {}
    for name, check in checks.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:  # a probe reports every failure; it never raises
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        else:
            results[name] = {"ok": True}
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return all(r["ok"] for r in results.values()), results


def _respond(checks: dict[str, Callable[[], None]]) -> JsonResponse:
    ok, results = run_checks(checks)
    body = {"status": "ok" if ok else "fail", "checks": results}
    return JsonResponse(body, status=200 if ok else 503)


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Database, broker and storage: 200 when all answer, 503 naming the one that did not."""
    return _respond({"database": check_database, "broker": check_broker, "storage": check_storage})


@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """Database reachable and schema up to date: 200, else 503."""
    return _respond({"database": check_database, "migrations": check_migrations})

"""Server errors a person can read, that render with the database gone.

Django calls `server_error` for every uncaught exception (in a view, a template or a
middleware) while the exception is still being handled, so it can tell a lost database from a
bug: the first is a 503 with ``Retry-After`` (the load balancer and the browser try again; the
broken connection is dropped at the end of the request by Django's ``close_old_connections``
and opened again by the next one), the second a 500. Both
pages are self-contained HTML (no context processors, no session, no user lookup), and JSON
``{"detail": ...}`` under ``/api/``.
"""

from __future__ import annotations

import errno
import sys

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader

RETRY_AFTER_SECONDS = 10
UNAVAILABLE = "The database is not answering right now. Please try again in a few seconds."
STORAGE_FULL = "The server's storage is full, so nothing was saved. Please try again later."
BROKEN = "Something went wrong on our side. It has been logged; please try again."


def _database_is_down(exc: BaseException | None) -> bool:
    return isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DatabaseError) and "connection" in str(exc).lower()
    )


def _storage_is_full(exc: BaseException | None) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: 503 when the database is unreachable or the disk is full, else 500.

    Never touches the database. Writes are all-or-nothing (files are removed when their row
    is not written), so a full disk loses nothing: the user is told to try again.
    """
    exc = sys.exc_info()[1]
    if _database_is_down(exc):
        status, message, unavailable = 503, UNAVAILABLE, True
    elif _storage_is_full(exc):
        status, message, unavailable = 503, STORAGE_FULL, True
    else:
        status, message, unavailable = 500, BROKEN, False
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": message}, status=status)
    else:
        html = loader.get_template("error_standalone.html").render(
            {"status": status, "message": message}
        )
        response = HttpResponse(html, status=status)
    if unavailable:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response

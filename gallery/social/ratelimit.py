"""Rate limits for signing in and signing up: per client IP and per account name.

Counters are rows of `RateLimitCounter` (fixed windows of ``AUTH_RATE_LIMIT_WINDOW_SECONDS``),
so every gunicorn worker and every web machine shares them, with no cache server to run.
The client IP is ``REMOTE_ADDR``; ``X-Forwarded-For`` is believed only as far as
``NUM_PROXIES`` trusted proxies append to it (anyone can send the header, so its left end is
whatever the client wrote; the entry ``NUM_PROXIES`` from the right is what our outermost
trusted proxy saw).
"""

from __future__ import annotations

import random
import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest

from gallery.models import RateLimitCounter

# Rows of windows older than this are deleted now and then.
_KEEP_SECONDS = 24 * 3600


def client_ip(request: HttpRequest) -> str:
    """The address this request came from, as far as the configured proxies can be trusted."""
    proxies = settings.NUM_PROXIES
    if proxies:
        header = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in header.split(",") if hop.strip()]
        if len(hops) >= proxies:
            return hops[-proxies][:64]
    return request.META.get("REMOTE_ADDR", "")[:64]


def _window() -> int:
    size = settings.AUTH_RATE_LIMIT_WINDOW_SECONDS
    return int(time.time() // size) * size


def rate_count(*, key: str) -> int:
    """Hits of ``key`` in the current window."""
    row = RateLimitCounter.objects.filter(key=key[:200], window=_window()).first()
    return row.count if row else 0


def rate_hit(*, key: str) -> int:
    """Count one hit of ``key`` in the current window; returns the window's count so far.

    An UPDATE with ``F()`` first (the common case), an INSERT when the window is new, and the
    UPDATE again if another process inserted it first: no hit is lost under concurrency.
    """
    key, window = key[:200], _window()
    with transaction.atomic():
        bumped = RateLimitCounter.objects.filter(key=key, window=window).update(
            count=F("count") + 1
        )
        if not bumped:
            try:
                with transaction.atomic():
                    RateLimitCounter.objects.create(key=key, window=window, count=1)
            except IntegrityError:
                RateLimitCounter.objects.filter(key=key, window=window).update(count=F("count") + 1)
    if random.random() < 0.01:  # housekeeping now and then, not on every hit
        RateLimitCounter.objects.filter(window__lt=window - _KEEP_SECONDS).delete()
    return rate_count(key=key)


def _account(username: str) -> str:
    return username.strip().lower()[:150]


def login_blocked(*, request: HttpRequest, username: str) -> bool:
    """Whether this sign-in attempt is over a limit (counting it against the IP)."""
    ip_hits = rate_hit(key=f"login:ip:{client_ip(request)}")
    account_failures = rate_count(key=f"login:account:{_account(username)}")
    return (
        ip_hits > settings.LOGIN_RATE_LIMIT_PER_IP
        or account_failures >= settings.LOGIN_RATE_LIMIT_PER_ACCOUNT
    )


def login_failed(*, username: str) -> None:
    """Count a wrong password against the account (guessing one account from many IPs)."""
    rate_hit(key=f"login:account:{_account(username)}")


def signup_blocked(*, request: HttpRequest, username: str) -> bool:
    """Whether this sign-up attempt is over the per-IP or per-account-name limit."""
    ip_hits = rate_hit(key=f"signup:ip:{client_ip(request)}")
    name_hits = rate_hit(key=f"signup:account:{_account(username)}")
    return (
        ip_hits > settings.SIGNUP_RATE_LIMIT_PER_IP
        or name_hits > settings.LOGIN_RATE_LIMIT_PER_ACCOUNT
    )


RATE_LIMITED_MESSAGE = "Too many attempts. Wait a few minutes and try again."

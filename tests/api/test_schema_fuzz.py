"""Schemathesis over our OpenAPI schema: every operation, every check, bounded examples.

It generates valid and invalid requests from the published schema and checks each answer:
no 5xx, only documented status codes and bodies that match their schema, content types as
declared, and (``ignored_auth``) that an operation needing a signed-in user refuses a request
without credentials or with wrong ones. Requests go straight into the WSGI app, signed in as
alice with an API token. ``SCHEMA_FUZZ_EXAMPLES`` raises the bound for a deeper run.
"""

from __future__ import annotations

import json
import os

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from config.wsgi import application

EXAMPLES = int(os.environ.get("SCHEMA_FUZZ_EXAMPLES", "5"))

schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.app = application


SIGNED_IN: dict[str, str | None] = {"token": None}


@schema.auth(refresh_interval=None)  # read per case: each test has its own (rolled back) token
class AliceToken:
    def get(self, case, context) -> str | None:
        return SIGNED_IN["token"]

    def set(self, case, token: str | None, context) -> None:
        if token:
            case.headers = {**(case.headers or {}), "Authorization": f"Token {token}"}


@pytest.fixture(autouse=True)
def _alice_token(alice):
    from rest_framework.authtoken.models import Token

    SIGNED_IN["token"] = Token.objects.create(user=alice).key
    yield
    SIGNED_IN["token"] = None


@pytest.fixture(autouse=True)
def _requests_keep_the_test_connection():
    """The WSGI app would close the connection after each request, as Django's own test
    client prevents, and with it the test's transaction."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
def test_every_operation_answers_as_its_schema_says(case, _alice_token):
    case.call_and_validate(excluded_checks=_beyond_the_schema(case))


# Requests whose validity no schema can express: a random string is a well-formed but unknown
# cursor, random credentials are wrong, random bytes are not an image, and what a job needs
# depends on its mode (a prompt for txt2img, a source image for vary). The server is right to
# answer 400 there, so "schema-valid data must be accepted" does not apply to them.
CONTENT_CHECKED = {
    "POST /api/auth/token/",
    "POST /api/uploads/",
    "POST /api/me/avatar/",
    "POST /api/jobs/",
    "POST /api/jobs/batch/",  # as a job, and a template must expand to a prompt
    "POST /api/prompts/combine/",  # which image ids exist is the database's business
    "PATCH /api/me/",  # mature settings open only once an account is old enough
}


def _beyond_the_schema(case) -> list:
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    # Text with NUL bytes is refused everywhere (DRF's CharField), a rule no schema states.
    has_nul = "\\u0000" in json.dumps(case.body, default=str)
    if case.operation.label in CONTENT_CHECKED or "cursor" in (case.query or {}) or has_nul:
        return [positive_data_acceptance]
    return []

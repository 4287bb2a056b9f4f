"""Every write endpoint of the API, found in the OpenAPI schema, against hostile requests.

Listing the operations from the schema (not by hand) means an endpoint added later is
covered the day it appears: a browser session without its CSRF token is refused, and
malformed, oversize or wrongly typed bodies get a JSON 4xx, never a 5xx or a traceback.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db
WRITES = ("post", "put", "patch", "delete")
PUBLIC_WRITES = {"/api/auth/token/"}  # signs in: no session, so nothing to forge


def _write_operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    found = []
    for path, item in schema["paths"].items():
        for method in WRITES:
            if method in item:
                # Path parameters get a number: the object need not exist for these checks.
                found.append((method, re.sub(r"\{[^}]+\}", "1", path)))
    return sorted(found)


OPERATIONS = _write_operations()


def _send(client: Client, method: str, path: str, **kwargs):
    return getattr(client, method)(path, **kwargs)


def test_the_schema_lists_the_write_endpoints_we_know():
    paths = {path for _, path in OPERATIONS}
    assert {"/api/jobs/", "/api/uploads/", "/api/jobs/1/cancel/"} <= paths


@pytest.mark.parametrize(("method", "path"), [o for o in OPERATIONS if o[1] not in PUBLIC_WRITES])
def test_a_session_write_without_the_csrf_token_is_refused(method, path, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = _send(client, method, path, data="{}", content_type="application/json")
    assert response.status_code == 403, response.content[:300]
    assert "detail" in response.json()


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_a_malformed_json_body_is_a_json_4xx(method, path, alice):
    client = Client()
    client.force_login(alice)
    client.raise_request_exception = False
    response = _send(
        client, method, path, data='{"prompt": "unterminated', content_type="application/json"
    )
    assert 400 <= response.status_code < 500, response.content[:300]
    assert "detail" in response.json()


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_an_oversize_body_is_a_4xx_and_not_read_into_memory(method, path, alice, settings):
    client = Client()
    client.force_login(alice)
    client.raise_request_exception = False
    body = '{"prompt": "' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10) + '"}'
    response = _send(client, method, path, data=body, content_type="application/json")
    assert 400 <= response.status_code < 500, response.content[:300]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_a_body_of_the_wrong_type_is_a_json_4xx(method, path, alice):
    client = Client()
    client.force_login(alice)
    client.raise_request_exception = False
    for body in ("[1, 2, 3]", '"a string"', "null", '{"prompt": {"nested": [1]}}'):
        response = _send(client, method, path, data=body, content_type="application/json")
        assert 400 <= response.status_code < 500 or response.status_code in (200, 201, 204), (
            body,
            response.content[:300],
        )
        assert response.status_code < 500

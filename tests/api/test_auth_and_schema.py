"""Tokens, the OpenAPI schema and the docs page."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_a_token_from_username_and_password_authenticates_api_calls(api, alice):
    response = api.post(
        "/api/auth/token/", {"username": "alice", "password": "alice-password-1"}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert api.get("/api/jobs/").status_code in (401, 403)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/jobs/").status_code == 200


def test_a_wrong_password_gets_no_token(api, alice):
    response = api.post(
        "/api/auth/token/", {"username": "alice", "password": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert "token" not in response.json()
    assert response.json()["detail"]


def test_the_openapi_schema_describes_the_contract_paths(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    for path in [
        "/api/images/",
        "/api/images/{id}/",
        "/api/prompts/",
        "/api/prompts/{id}/",
        "/api/jobs/",
        "/api/jobs/{id}/",
        "/api/jobs/{id}/cancel/",
        "/api/auth/token/",
    ]:
        assert path in schema["paths"], path


def test_the_docs_page_loads_without_a_cdn(api):
    response = api.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger" in html.lower()
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html

"""What people type (prompts, negative prompts, names, metadata) is shown, never run."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db
PAYLOAD = '<script>alert("xss")</script><img src=x onerror=alert(1)>"\'><svg onload=alert(2)>'
DANGEROUS = ("<script>alert", "<img src=x", "<svg onload", "\"'><")  # tags or an attribute breakout


def _assert_inert(html: str) -> None:
    for marker in DANGEROUS:
        assert marker not in html, f"unescaped {marker!r} in the page"


def test_a_hostile_prompt_is_escaped_on_every_page_that_shows_it(client, make_image, alice):
    image = make_image(prompt=f"a fox {PAYLOAD}", negative_prompt=PAYLOAD)
    client.force_login(alice)
    for path in ("/", f"/images/{image.id}/", "/?q=fox", f"/u/{alice.username}/"):
        response = client.get(path)
        assert response.status_code == 200, path
        _assert_inert(response.content.decode())


def test_a_hostile_prompt_is_escaped_on_the_job_pages(client, alice, make_job):
    job = make_job(prompt=PAYLOAD, negative_prompt=PAYLOAD, error=PAYLOAD)
    client.force_login(alice)
    for path in ("/jobs/", f"/jobs/{job.id}/"):
        response = client.get(path)
        assert response.status_code == 200, path
        _assert_inert(response.content.decode())


def test_a_hostile_username_is_escaped(client, django_user_model, make_image):
    mallory = django_user_model.objects.create_user("mallory", password="pw-mallory-123")
    django_user_model.objects.filter(pk=mallory.pk).update(first_name=PAYLOAD)
    make_image(owner=mallory, prompt="a calm lake")
    _assert_inert(client.get("/").content.decode())
    _assert_inert(client.get("/u/mallory/").content.decode())


def test_every_page_sends_a_content_security_policy_without_inline_scripts(client):
    policy = client.get("/")["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]

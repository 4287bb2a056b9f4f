"""The HTML gallery: grid, infinite scroll, image page, profiles, accounts, safety headers."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image as PILImage

pytestmark = pytest.mark.django_db


def test_the_gallery_shows_tiles_newest_first_with_copy_buttons(client, make_image):
    make_image(prompt="an older fox")
    make_image(prompt="a newer owl")
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.index("a newer owl") < html.index("an older fox")
    assert 'data-copy="a newer owl"' in html
    assert 'loading="lazy"' in html


def test_scrolling_loads_the_next_tiles_only_through_htmx(client, make_image):
    for i in range(35):
        make_image(prompt=f"tile number {i}")
    first = client.get("/").content.decode()
    assert first.count('class="tile"') == 30
    sentinel = re.search(r'class="sentinel" hx-get="([^"]+)"', first)
    next_url = sentinel.group(1).replace("&amp;", "&")
    more = client.get(next_url, HTTP_HX_REQUEST="true")
    assert more.status_code == 200
    html = more.content.decode()
    assert "<html" not in html
    assert html.count('class="tile"') == 5
    assert "tile number 0" in html and "tile number 34" not in html
    assert "hx-get" not in html  # last page: no sentinel


def test_user_text_is_escaped_everywhere(client, make_image):
    image = make_image(prompt='<script>alert("x")</script> a cat')
    for url in ["/", f"/images/{image.id}/", "/u/alice/"]:
        html = client.get(url).content.decode()
        assert "<script>alert" not in html
        assert "&lt;script&gt;" in html


def test_pages_send_a_content_security_policy(client):
    response = client.get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy


def test_the_image_page_shows_parameters_copy_buttons_and_neighbours(client, make_image):
    older = make_image(prompt="first")
    middle = make_image(prompt="second", negative_prompt="blurry", seed=1234)
    newer = make_image(prompt="third")
    html = client.get(f"/images/{middle.id}/").content.decode()
    assert "Copy prompt" in html and "Copy all parameters" in html
    assert 'data-copy="second"' in html
    assert "Negative prompt: blurry" in html  # the infotext on the copy-all button
    assert "1234" in html and "Euler a" in html
    assert f'rel="prev" href="/images/{newer.id}/"' in html
    assert f'rel="next" href="/images/{older.id}/"' in html
    assert f"/images/{middle.id}/download/" in html


def test_an_unknown_image_page_is_404(client):
    assert client.get("/images/424242/").status_code == 404


def test_download_gives_a_png_that_carries_its_parameters(client, make_image):
    image = make_image(prompt="a koi pond", seed=7)
    response = client.get(f"/images/{image.id}/download/")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    png = PILImage.open(io.BytesIO(b"".join(response.streaming_content)))
    assert png.format == "PNG"
    assert png.text["parameters"].startswith("a koi pond\nSteps: 20")
    assert "Seed: 7" in png.text["parameters"]


def test_a_profile_lists_only_that_users_images(client, make_image, bob):
    make_image(prompt="alice's fox")
    make_image(owner=bob, prompt="bob's owl")
    html = client.get("/u/bob/").content.decode()
    assert "bob&#x27;s owl" in html and "alice&#x27;s fox" not in html
    assert client.get("/u/nobody/").status_code == 404


def test_sign_up_log_out_and_log_in(client):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "dora",
            "password1": "a-long-pass-phrase-9",
            "password2": "a-long-pass-phrase-9",
        },
    )
    assert response.status_code == 302
    assert "dora" in client.get("/").content.decode()
    client.post("/accounts/logout/")
    assert "Log in" in client.get("/").content.decode()
    response = client.post(
        "/accounts/login/", {"username": "dora", "password": "a-long-pass-phrase-9"}
    )
    assert response.status_code == 302
    assert "Log out" in client.get("/").content.decode()


def test_a_broken_page_link_is_a_400_page(client, make_image):
    make_image()
    assert client.get("/?cursor=tampered").status_code == 400
    assert client.get("/?aspect=round").status_code == 400

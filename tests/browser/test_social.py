"""Likes and private collections, from a gallery tile, and what a stranger then sees."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Route, expect

from tests.browser.conftest import Site

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_like_and_save_to_a_private_collection_which_a_stranger_cannot_open(
    site, alice, bob, charlie, make_image, browser: Browser, browser_context_args: dict
):
    image = make_image(owner=bob, prompt="a quiet harbour at dawn, oil painting")
    site.login_as(alice)
    page = site.go("/")
    tile = page.locator(f"#tile-{image.id}")
    like = tile.get_by_role("button", name=f"Like image {image.id}")
    expect(like.locator(".like-count")).to_have_text("0")
    # Hold the like request: the count must go up before the server has answered.
    held: list[Route] = []
    page.route(f"**/images/{image.id}/like/", lambda route: held.append(route))
    like.click()
    expect(like).to_have_attribute("aria-pressed", "true")
    expect(like.locator(".like-count")).to_have_text("1")
    assert len(held) == 1
    with page.expect_response(f"**/images/{image.id}/like/") as answer:
        held[0].continue_()
    assert answer.value.ok
    page.unroute(f"**/images/{image.id}/like/")
    page.reload()
    expect(like).to_have_attribute("aria-pressed", "true")
    expect(like.locator(".like-count")).to_have_text("1")
    # Save it to a new private collection from the tile's Save menu.
    tile.locator("details.save summary").click()
    menu = tile.locator(".save-menu")
    expect(menu).to_contain_text("No collections yet.")
    menu.get_by_label("New collection").fill("Harbours")
    menu.get_by_label("Visibility").select_option("private")
    menu.get_by_role("button", name="Create and save").click()
    expect(page).to_have_url(f"{site.url}/images/{image.id}/")
    # Her profile's Collections tab shows it, private, with the image in it.
    page = site.go("/u/alice/")
    page.get_by_role("link", name="Collections").click()
    card = page.locator(".collection-card", has_text="Harbours")
    expect(card).to_contain_text("1 image · private")
    card.get_by_role("link").click()
    expect(page.locator(f"#tile-{image.id} img")).to_have_attribute(
        "alt", "a quiet harbour at dawn, oil painting"
    )
    collection_url = page.url
    # Charlie, in a browser of his own, gets a 404 and does not see it on her profile.
    context = browser.new_context(**browser_context_args)
    try:
        stranger = Site(site.url, context.new_page(), site.errors)
        stranger.login_as(charlie)
        response = stranger.page.goto(collection_url)
        assert response is not None and response.status == 404
        stranger.go("/u/alice/?tab=collections")
        expect(stranger.page.locator("main")).to_contain_text("No collections yet.")
    finally:
        context.close()

"""The image page: copy buttons put the exact text on the clipboard, arrows move, strips load."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def trio(make_image, index_prompts):
    older = make_image(prompt="impressionist painting of a cat, soft brush strokes")
    middle = make_image(
        prompt="a kitten in the style of Claude Monet, oil painting",
        negative_prompt="blurry, (lowres:1.3)",
        seed=1234,
        cfg_scale=6.5,
    )
    newer = make_image(prompt="cyberpunk city at night, neon lights, rain")
    index_prompts()
    return older, middle, newer


def clipboard(page) -> str:
    return page.evaluate("() => navigator.clipboard.readText()")


def test_copy_buttons_put_the_exact_text_on_the_clipboard(site, trio):
    _, middle, _ = trio
    page = site.go(f"/images/{middle.id}/")
    page.get_by_role("button", name="Copy prompt").click()
    expect(page.locator("#toast")).to_have_text("Copied")
    assert clipboard(page) == "a kitten in the style of Claude Monet, oil painting"
    page.get_by_role("button", name="Copy all parameters").click()
    text = clipboard(page)
    assert text == middle.infotext
    assert text.startswith("a kitten in the style of Claude Monet, oil painting\n")
    assert "Negative prompt: blurry, (lowres:1.3)\n" in text
    assert "Seed: 1234" in text and "CFG scale: 6.5" in text


def test_arrow_keys_move_between_images(site, trio):
    older, middle, newer = trio
    page = site.go(f"/images/{middle.id}/")
    page.keyboard.press("ArrowRight")
    expect(page).to_have_url(f"{site.url}/images/{older.id}/")
    page.keyboard.press("ArrowRight")  # the oldest: nowhere further to go
    page.keyboard.press("ArrowLeft")
    expect(page).to_have_url(f"{site.url}/images/{middle.id}/")
    page.keyboard.press("ArrowLeft")
    expect(page).to_have_url(f"{site.url}/images/{newer.id}/")
    # Typing in the search box never navigates.
    page.get_by_role("searchbox", name="Search prompts").press("ArrowRight")
    expect(page).to_have_url(f"{site.url}/images/{newer.id}/")


def test_similar_images_and_this_style_load_as_they_scroll_into_view(site, trio):
    older, middle, _ = trio
    page = site.go(f"/images/{older.id}/")
    similar = page.locator("section[aria-labelledby=similar-title]")
    similar.scroll_into_view_if_needed()
    kitten_link = similar.locator(f"a[href='/images/{middle.id}/'] img")
    expect(kitten_link).to_be_visible()
    expect(similar.locator(f"a[href='/images/{older.id}/']")).to_have_count(0)
    style = page.locator("section[aria-labelledby=style-title]")
    style.scroll_into_view_if_needed()
    expect(style.locator(".strip img, p.muted").first).to_be_visible()
    expect(style.get_by_role("link", name="Show images in this style")).to_have_count(0)
    # A strip image leads to that image's page.
    kitten_link.click()
    expect(page).to_have_url(f"{site.url}/images/{middle.id}/")

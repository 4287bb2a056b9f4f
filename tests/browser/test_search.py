"""Search as you type: the grid is replaced in place, the URL follows, filters and sort apply."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TILE_IDS = "() => Array.from(document.querySelectorAll('#grid .tile')).map(t => t.id)"


@pytest.fixture
def cats(make_image, index_prompts):
    # The kitten is older, so "Newest" and "Best match" order the two cats differently.
    kitten = make_image(
        prompt="a kitten in the style of Claude Monet, oil painting", width=96, height=64
    )
    cat = make_image(prompt="impressionist painting of a cat, soft brush strokes")
    city = make_image(prompt="cyberpunk city at night, neon lights, rain", width=64, height=96)
    index_prompts()
    return {"kitten": f"tile-{kitten.id}", "cat": f"tile-{cat.id}", "city": f"tile-{city.id}"}


def test_typing_a_query_replaces_the_grid_and_the_url_follows(site, cats):
    page = site.go("/")
    assert page.evaluate(TILE_IDS) == [cats["city"], cats["cat"], cats["kitten"]]
    box = page.get_by_role("searchbox", name="Search prompts")
    started = time.monotonic()
    box.press_sequentially("a kitten painted like Monet", delay=20)
    typed = time.monotonic()
    expect(page.locator(f"#{cats['city']}")).to_have_count(0, timeout=1_000)
    # Within a second of the last key press, through htmx: no full page load happened.
    assert time.monotonic() - typed < 1.0, time.monotonic() - started
    assert page.evaluate(TILE_IDS) == [cats["kitten"], cats["cat"]]
    expect(page).to_have_url(
        re.compile(r"\?q=a(\+|%20)kitten(\+|%20)painted(\+|%20)like(\+|%20)Monet$")
    )
    expect(box).to_be_focused()  # typing goes on where it was
    # Back returns to the whole gallery, forward to the results.
    shared = page.url
    page.go_back()
    expect(page).to_have_url(site.url + "/")
    expect(page.locator("#grid .tile")).to_have_count(3)
    expect(box).to_have_value("")
    page.go_forward()
    expect(page.locator("#grid .tile")).to_have_count(2)
    # The link can be shared: opened in a fresh tab, it shows the same results.
    other = page.context.new_page()
    other.goto(shared)
    assert other.evaluate(TILE_IDS) == [cats["kitten"], cats["cat"]]
    other.close()


def test_sort_and_filters_change_the_results(site, cats):
    page = site.go("/?q=a+kitten+painted+like+Monet")
    assert page.evaluate(TILE_IDS) == [cats["kitten"], cats["cat"]]
    page.get_by_label("Sort").select_option("Newest")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"ordering=-created"))
    expect(page.locator("#grid .tile").first).to_have_id(cats["cat"])
    assert page.evaluate(TILE_IDS) == [cats["cat"], cats["kitten"]]
    page.get_by_label("Shape").select_option("Landscape")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"aspect=landscape"))
    expect(page.locator("#grid .tile")).to_have_count(1)
    assert page.evaluate(TILE_IDS) == [cats["kitten"]]
    # The query survived both changes.
    expect(page.get_by_role("searchbox", name="Search prompts")).to_have_value(
        "a kitten painted like Monet"
    )

"""The gallery grid as a person scrolls it: infinite scroll, no duplicates, no layout jumps."""

from __future__ import annotations

import pytest
from playwright.sync_api import Route, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TILE_IDS = "Array.from(document.querySelectorAll('#grid .tile')).map(t => t.id)"
# Each tile's place in the document (not the viewport, which scrolls).
POSITIONS = """() => Object.fromEntries(Array.from(document.querySelectorAll('#grid .tile')).map(
    t => { const r = t.getBoundingClientRect(); return [t.id, [r.left, r.top + scrollY]]; }))"""


def test_scrolling_loads_pages_two_and_three_without_duplicates(site, make_images):
    made = make_images(65)
    page = site.go("/")
    tiles = page.locator("#grid .tile")
    expect(tiles).to_have_count(30)
    first_page = page.evaluate(POSITIONS)
    for expected in (60, 65):
        page.locator(".sentinel").last.scroll_into_view_if_needed()
        expect(tiles).to_have_count(expected)
        # Tiles already on the page stay where they are when more arrive (no reflow).
        now = page.evaluate(POSITIONS)
        assert {key: now[key] for key in first_page} == first_page
    ids = page.evaluate(TILE_IDS)
    assert len(ids) == len(set(ids)) == 65
    assert ids == [f"tile-{image.id}" for image in reversed(made)]  # newest first, in order
    expect(page.locator(".sentinel")).to_have_count(0)  # the last page has no sentinel


def test_thumbnails_reserve_their_box_before_the_image_arrives(site, make_images):
    make_images(3)  # square, portrait, landscape
    held: list[Route] = []
    release = {"now": False}

    def hold(route: Route) -> None:
        route.continue_() if release["now"] else held.append(route)

    site.page.route("**/media/**", hold)
    page = site.page
    page.goto(site.url + "/", wait_until="domcontentloaded")
    expect(page.locator("#grid .tile")).to_have_count(3)
    boxes_before = [tile.bounding_box() for tile in page.locator("#grid .tile img").all()]
    assert all(box and box["height"] > 0 for box in boxes_before)
    assert held, "thumbnails were not requested"
    release["now"] = True
    for route in held:
        route.continue_()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#grid img')].every(i => i.complete && i.naturalWidth)"
    )
    boxes_after = [tile.bounding_box() for tile in page.locator("#grid .tile img").all()]
    assert boxes_after == boxes_before
    # Each box has its image's own shape, known from the HTML alone.
    ratios = sorted(round(box["height"] / box["width"], 2) for box in boxes_after)
    assert ratios == [0.67, 1.0, 1.5]


def test_every_gallery_image_has_its_prompt_as_alt_text(site, make_image):
    long_prompt = "an extremely detailed matte painting of a castle " * 5
    make_image(prompt="a fox in the snow")
    make_image(prompt=long_prompt)
    page = site.go("/")
    alts = page.eval_on_selector_all("main img", "imgs => imgs.map(i => i.alt)")
    assert len(alts) == 2
    assert "a fox in the snow" in alts
    (long_alt,) = [alt for alt in alts if alt.startswith("an extremely")]
    assert len(long_alt) <= 90 and long_alt.endswith("…")
    assert long_prompt.startswith(long_alt[:-1])

"""The canvas (static/canvas.js): paint a mask with the mouse, submit, see the edited region."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_painting_a_mask_makes_an_inpainted_image_with_its_edited_region(
    worker_site, alice, make_image
):
    site = worker_site
    source = make_image(owner=alice, prompt="a red barn in a field")
    site.login_as(alice)
    page = site.go(f"/images/{source.id}/")
    page.get_by_role("link", name="Edit on canvas").click()
    expect(page).to_have_url(f"{site.url}/images/{source.id}/canvas/")
    page.wait_for_load_state("load")  # canvas.js is deferred: the form is plain HTML before it
    # Submitting with nothing painted says what to do.
    page.get_by_role("button", name="Paint", exact=True).click()
    expect(page.locator("#canvas-error")).to_contain_text("Paint the area to change")
    mask = page.locator("#canvas-mask")
    mask.scroll_into_view_if_needed()
    box = mask.bounding_box()
    assert box and box["width"] >= 64
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(
            box["x"] + box["width"] * (0.2 + 0.05 * step), box["y"] + box["height"] * 0.5, steps=2
        )
    page.mouse.up()
    painted = mask.evaluate(
        """canvas => {
            const {width, height} = canvas;
            const data = canvas.getContext('2d').getImageData(0, 0, width, height).data;
            let n = 0;
            for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
            return n / (width * height);
        }"""
    )
    assert 0.02 < painted < 0.6, painted  # a stroke, not nothing and not everything
    expect(page.get_by_role("button", name="Undo")).to_be_enabled()
    page.locator("#canvas-form textarea[name=prompt]").fill("a blue barn in a field")
    page.get_by_label("Steps").fill("4")
    page.get_by_label("Seed").fill("3")
    page.get_by_role("button", name="Paint", exact=True).click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    expect(page.locator("#job-status .status-succeeded")).to_be_visible(timeout=60_000)
    page.locator("#job-status .results a").first.click()
    expect(page).to_have_url(re.compile(r"/images/\d+/$"))
    assert page.url != f"{site.url}/images/{source.id}/"
    region = page.locator("section[aria-labelledby=edited-title]")
    expect(region.get_by_role("heading", name="Edited region")).to_be_visible()
    expect(region).to_contain_text("Inpainted")
    overlay = region.get_by_role("img", name="The edited region, in white")
    overlay.scroll_into_view_if_needed()
    expect(overlay).to_have_js_property("complete", True)
    assert overlay.evaluate("img => img.naturalWidth") > 0
    # Shown large enough to see, and exactly over the image it marks.
    picture = region.get_by_role("img", name="This image").bounding_box()
    assert picture and picture["width"] >= 200
    assert overlay.bounding_box() == picture
    # The result remembers where it came from.
    expect(page.locator(f"a[href='/images/{source.id}/'] img")).to_have_count(1)

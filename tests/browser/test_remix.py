"""The remix tray (static/remix.js): two images combined, generated on a real worker, lineage."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_accessibility import probe

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _two_images_in_the_tray(site, alice, bob, make_image):
    """GIVEN two of bob's images WHEN alice adds both to the tray from their gallery tiles."""
    fox = make_image(owner=bob, prompt="a red fox in the snow, oil painting")
    harbour = make_image(owner=bob, prompt="a quiet harbour, watercolor, soft light")
    site.login_as(alice)
    page = site.go("/")
    tray = page.locator("#remix-tray")
    expect(tray).to_be_hidden()
    for image in (fox, harbour):
        tile = page.locator(f"#tile-{image.id}")
        tile.hover()
        tile.get_by_role("button", name="Add to remix tray").click()
        expect(tile.get_by_role("button", name="In remix tray")).to_be_visible()
    expect(page).to_have_url(f"{site.url}/")  # the clicks stayed on the gallery
    return page, tray, fox, harbour


def _generate_small(page):
    """Submit the generate form at the tiny model's size and wait for the job to succeed."""
    page.get_by_label("Width").fill("64")
    page.get_by_label("Height").fill("64")
    page.get_by_label("Steps").fill("4")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    expect(page.locator("#job-status .status-succeeded")).to_be_visible(timeout=60_000)


def test_two_images_remixed_in_the_tray_make_an_image_that_lists_both_sources(
    worker_site, alice, bob, make_image
):
    site = worker_site
    page, tray, fox, harbour = _two_images_in_the_tray(site, alice, bob, make_image)
    expect(tray.locator(".tray-items li")).to_have_count(2)
    expect(tray.locator(".tray-count")).to_have_text("2 / 5")
    tray.get_by_role("button", name="Combine").click()  # the default strategy: merge
    phrases = tray.locator(".tray-phrases .phrase")
    expect(phrases.first).to_be_visible()
    # Every phrase is tagged with the image it came from (A, B), and both gave some.
    tags = phrases.evaluate_all(
        "spans => spans.map(s => [s.firstChild.textContent, s.querySelector('sub').textContent])"
    )
    assert {tag for _, tag in tags} == {"A", "B"}, tags
    assert ["red fox in the snow", "A"] in tags or ["a red fox in the snow", "A"] in tags, tags
    assert ["watercolor", "B"] in tags, tags
    expect(phrases.filter(has_text="watercolor")).to_have_attribute(
        "title", re.compile(f"from image {harbour.id}$")
    )
    # The open tray is readable on the dark theme (WCAG AA), like the rest of the page.
    contrast = probe(page, "lowContrast")
    assert not contrast["failures"], contrast["failures"]
    combined = tray.locator("[name=result_prompt]").input_value()
    assert "fox" in combined and "watercolor" in combined, combined
    tray.get_by_role("button", name="Open in the generator").click()
    expect(page).to_have_url(f"{site.url}/generate/?remix=1")
    expect(page.get_by_label("Prompt", exact=True)).to_have_value(combined)
    expect(page.locator("#remix-note")).to_contain_text(f"{fox.id}, {harbour.id}")
    _generate_small(page)
    page.locator("#job-status .results a").first.click()
    expect(page).to_have_url(re.compile(r"/images/\d+/$"))
    lineage = page.locator("section[aria-labelledby=parents-title]")
    expect(lineage.get_by_role("heading", name="Remixed from")).to_be_visible()
    lineage.scroll_into_view_if_needed()  # for the end-state screenshot
    contrast = probe(page, "lowContrast")
    assert not contrast["failures"], contrast["failures"]
    for source in (fox, harbour):
        expect(lineage.locator(f".lineage a[href='/images/{source.id}/'] img")).to_have_attribute(
            "alt", source.prompt.text
        )


def test_a_blend_from_the_tray_runs_on_the_worker_and_shows_each_sources_share(
    worker_site, alice, bob, make_image
):
    site = worker_site
    page, tray, _, _ = _two_images_in_the_tray(site, alice, bob, make_image)
    tray.get_by_label("Strategy").select_option("blend")
    sliders = tray.locator(".tray-weights input")
    expect(sliders).to_have_count(2)  # one share per image, as for weighted
    sliders.nth(0).fill("1.5")
    sliders.nth(1).fill("0.5")
    tray.get_by_role("button", name="Combine").click()
    expect(tray.locator(".tray-blend")).to_contain_text("A 75%, B 25%")
    tray.get_by_role("button", name="Open in the generator").click()
    expect(page).to_have_url(f"{site.url}/generate/?remix=1")
    expect(page.locator("#remix-note .remix-blend")).to_be_visible()
    _generate_small(page)
    page.locator("#job-status .results a").first.click()
    lineage = page.locator("section[aria-labelledby=parents-title]")
    expect(lineage.locator(".blend-share")).to_have_text(
        [re.compile(r"Blended in at 75%"), re.compile(r"Blended in at 25%")]
    )

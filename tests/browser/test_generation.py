"""Generating with the tiny test model on a real worker, as a person watches the job page."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from gallery.models import Image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def submit(page: Page, prompt: str, *, size: int, steps: int, seed: int) -> int:
    page.get_by_label("Prompt", exact=True).fill(prompt)
    page.get_by_label("Width").fill(str(size))
    page.get_by_label("Height").fill(str(size))
    page.get_by_label("Steps").fill(str(steps))
    page.get_by_label("Seed").fill(str(seed))
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    return int(page.url.rstrip("/").rsplit("/", 1)[1])


def watch(page: Page, timeout: float) -> tuple[list[float], list[str]]:
    """Progress values and preview images the page showed until the job finished."""
    progress: list[float] = []
    previews: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = page.evaluate(
            """() => ({
                value: document.querySelector('#job-status progress')?.value ?? null,
                preview: document.querySelector('#job-status .preview img')?.src ?? null,
                done: !document.querySelector('#job-status[hx-get]'),
            })"""
        )
        if state["value"] is not None and (not progress or progress[-1] != state["value"]):
            progress.append(state["value"])
        if state["preview"] and (not previews or previews[-1] != state["preview"]):
            previews.append(state["preview"])
        if state["done"]:
            return progress, previews
        time.sleep(0.1)
    raise AssertionError(f"the job did not finish: progress {progress}")


def test_a_job_shows_progress_and_previews_then_lands_in_my_jobs_and_the_gallery(
    worker_site, alice
):
    site = worker_site
    site.login_as(alice)
    page = site.go("/generate/")
    # Long enough (~4 s on an idle 2-core machine) for the 1 s polling to show several steps.
    job_id = submit(page, "a lighthouse at dusk, oil painting", size=192, steps=120, seed=7)
    progress, previews = watch(page, 90)
    expect(page.locator("#job-status .status-succeeded")).to_have_text("Succeeded")
    assert len([value for value in progress if 0 < value < 1]) >= 2, progress
    assert progress == sorted(progress), progress
    assert len(previews) >= 2 and all(p.startswith("data:image/") for p in previews), len(previews)
    result = page.locator("#job-status .results img")
    expect(result).to_have_count(1)
    expect(result).to_have_js_property("complete", True)
    assert result.evaluate("img => img.naturalWidth") > 0
    (image,) = Image.objects.filter(generation_jobs=job_id)
    # A second job, cancelled while it runs.
    page = site.go("/generate/")
    second = submit(page, "a job to cancel", size=256, steps=150, seed=8)  # ~15 s: time to cancel
    expect(page.locator("#job-status .status-running")).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#job-status .status-cancelled")).to_be_visible(timeout=15_000)
    assert not Image.objects.filter(generation_jobs=second).exists()
    # My jobs lists both, with their outcomes.
    page.get_by_role("link", name="My jobs").click()
    rows = page.locator(".jobs-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="a lighthouse at dusk")).to_contain_text("Succeeded")
    expect(rows.filter(has_text="a job to cancel")).to_contain_text("Cancelled")
    # The result is in the gallery, and its page opens from there.
    page.get_by_role("link", name="Gallery").click()
    tile = page.locator(f"#tile-{image.id} img")
    expect(tile).to_have_attribute("alt", "a lighthouse at dusk, oil painting")
    tile.click()
    expect(page).to_have_url(f"{site.url}/images/{image.id}/")


def test_a_prompt_matrix_fills_one_grid_labelled_by_what_varies(worker_site, alice):
    site = worker_site
    site.login_as(alice)
    page = site.go("/generate/")
    page.get_by_label("Prompt", exact=True).fill("a fox|oil painting")
    page.locator("select[name=wildcards]").select_option("matrix")
    page.get_by_label("Width").fill("64")
    page.get_by_label("Height").fill("64")
    page.get_by_label("Steps").fill("2")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/jobs/batches/\w+/$"))
    grid = page.locator("#batch-grid")
    expect(grid.locator(".batch-cell figcaption a")).to_have_text(["(base)", "oil painting"])
    # The grid polls while jobs run and stops once both are done, each cell with its image.
    expect(grid).to_contain_text("2 of 2 finished", timeout=60_000)
    expect(grid).not_to_have_attribute("hx-get", re.compile("."))
    expect(grid.locator(".batch-cell img[src*='/media/']")).to_have_count(2)
    expect(grid.locator(".batch-cell a:has(img)").first).to_have_attribute(
        "href", re.compile(r"^/images/\d+/$")
    )

"""Accessibility basics on the main pages: keyboard reach, visible focus, WCAG AA contrast."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROBES = (Path(__file__).parent / "a11y.js").read_text()


def probe(page, name: str):
    return page.evaluate(f"() => ({PROBES}).{name}()")


@pytest.fixture
def pages(site, make_image, alice) -> list[str]:
    """The main pages, signed in (so the nav, upload and jobs pages are all there)."""
    older = make_image(prompt="a red fox in the snow", negative_prompt="blurry")
    make_image(prompt="a lighthouse at dusk, oil painting", width=96, height=64)
    site.login_as(alice)
    return ["/", f"/images/{older.id}/", "/generate/", "/upload/", "/jobs/", "/u/alice/"]


def test_every_control_is_reachable_by_keyboard_with_a_visible_focus_ring(site, pages):
    page = site.page
    for path in pages:
        site.go(path)
        expected = set(probe(page, "controls"))
        reached: set[str] = set()
        # Twice round the page (a page may start with focus in a field, past the top bar).
        for _ in range(len(expected) * 2 + 4):
            page.keyboard.press("Tab")
            focus = probe(page, "focused")
            if focus is None:
                continue  # focus left the page for the browser's own UI, then comes back
            assert focus["ring"], f"{path}: no visible focus indicator on {focus['key']}"
            assert focus["onScreen"] and focus["uncovered"], f"{path}: {focus['key']} is hidden"
            reached.add(focus["key"])
        missing = expected - reached
        assert not missing, f"{path}: not reachable by Tab: {sorted(missing)}"


def test_text_contrast_meets_wcag_aa_and_every_image_has_alt_text(site, pages):
    for path in pages:
        page = site.go(path)
        unlabelled = page.eval_on_selector_all(
            "img", "imgs => imgs.filter(i => !i.alt.trim()).map(i => i.outerHTML)"
        )
        assert not unlabelled, f"{path}: images without alt text: {unlabelled}"
        result = probe(page, "lowContrast")
        assert result["checked"] > 5, path
        assert not result["failures"], f"{path}: {result['failures']}"

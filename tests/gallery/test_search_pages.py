"""Search in the HTML gallery: the box on every page, ranked results, similar-image strips."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def cats(make_image, index_prompts):
    images = {
        "cat": make_image(prompt="impressionist painting of a cat, soft brush strokes"),
        "kitten": make_image(prompt="a kitten in the style of Claude Monet, oil painting"),
        "city": make_image(prompt="cyberpunk city at night, neon lights, rain"),
    }
    index_prompts()
    return images


def test_every_page_has_a_search_box_that_searches_as_you_type(client, cats):
    for url in ("/", f"/images/{cats['cat'].id}/", "/accounts/login/"):
        html = client.get(url).content.decode()
        assert 'role="search"' in html and 'name="q"' in html
        assert 'hx-trigger="input changed delay:300ms, search"' in html
        assert 'hx-push-url="true"' in html


def test_the_gallery_with_a_query_shows_the_best_matches_first(client, cats):
    response = client.get("/", {"q": "a kitten painted like Monet"})
    assert response.status_code == 200
    html = response.content.decode()
    assert f"/images/{cats['kitten'].id}/" in html and f"/images/{cats['cat'].id}/" in html
    assert f"/images/{cats['city'].id}/" not in html
    assert 'value="a kitten painted like Monet"' in html  # the box keeps the query
    assert "Best match" in html


def test_a_search_with_no_match_says_so(client, cats):
    html = client.get("/", {"q": "zzqxv"}).content.decode()
    assert "No images match" in html


@pytest.mark.parametrize("query", ["&|!:*(", "x" * 10_000, "nul\x00byte", "<script>x</script>"])
def test_a_hostile_search_in_the_page_is_never_a_server_error(client, cats, query):
    response = client.get("/", {"q": query})
    assert response.status_code in (200, 400)
    assert "<script>x</script>" not in response.content.decode()


def test_the_image_page_lazy_loads_similar_images_and_its_style(client, cats):
    cat = cats["cat"]
    html = client.get(f"/images/{cat.id}/").content.decode()
    assert "Similar images" in html and "Explore this style" in html
    assert f'hx-get="/images/{cat.id}/similar/?by=prompt"' in html
    assert f'hx-get="/images/{cat.id}/similar/?by=style"' in html
    strip = client.get(f"/images/{cat.id}/similar/", {"by": "prompt"}).content.decode()
    assert f"/images/{cats['kitten'].id}/" in strip
    assert f"/images/{cat.id}/" not in strip
    assert client.get(f"/images/{cat.id}/similar/", {"by": "smell"}).status_code == 400

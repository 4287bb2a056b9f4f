"""GET /api/search/ and /api/images/{id}/similar/: relevance, contract, filters, hostile input."""

from __future__ import annotations

import pytest

from tests.api.test_images import CONTRACT_FIELDS
from tests.prompts.test_search_backends import HOSTILE

pytestmark = pytest.mark.django_db


@pytest.fixture
def gallery(make_image, bob, index_prompts):
    """A small gallery with one impressionist cat, a rare artist name, and unrelated scenes."""
    images = {
        "cat": make_image(prompt="impressionist painting of a cat, soft brush strokes"),
        "artist": make_image(
            owner=bob, prompt="dystopian cathedral, by Zdzislaw Beksinski, surreal, dark"
        ),
        "city": make_image(prompt="cyberpunk city at night, neon lights, rain", width=96),
        "sailor": make_image(prompt="portrait of an old sailor, oil on canvas", height=96),
        "car": make_image(prompt="a red vintage car on a desert road, photo"),
    }
    index_prompts()
    return images


def _search(api, **params):
    response = api.get("/api/search/", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_a_kitten_painted_like_monet_finds_the_impressionist_cat_first(api, gallery):
    body = _search(api, q="a kitten painted like Monet")
    first = body["results"][0]
    assert first["id"] == gallery["cat"].id
    assert first["matched"] == "semantic"
    assert set(first) >= CONTRACT_FIELDS | {"score", "matched"}
    assert first["score"] > 0
    assert gallery["city"].id not in [row["id"] for row in body["results"]]


def test_a_rare_artist_name_is_found_literally(api, gallery):
    body = _search(api, q="beksinski")
    assert body["results"][0]["id"] == gallery["artist"].id
    assert body["results"][0]["matched"] in {"keyword", "both"}


def test_words_found_both_ways_are_marked_both(api, gallery):
    body = _search(api, q="impressionist painting of a cat")
    assert body["results"][0]["id"] == gallery["cat"].id
    assert body["results"][0]["matched"] == "both"
    assert {row["matched"] for row in body["results"]} <= {"semantic", "keyword", "both"}


def test_filters_apply_inside_the_search_not_after_it(api, make_image, gallery, settings):
    # GIVEN three close matches in landscape and a weaker one in portrait
    for n in range(3):
        make_image(prompt=f"impressionist painting of a cat, variant {n}", width=96)
    portrait = make_image(prompt="a cat drawn in pencil", height=96)
    from prompts.services import prompt_embeddings_backfill

    prompt_embeddings_backfill()
    # WHEN each side may only bring 2 candidates, and the search asks for portraits
    settings.SEARCH_CANDIDATES = 2
    unfiltered = _search(api, q="impressionist cat painting")
    filtered = _search(api, q="impressionist cat painting", aspect="portrait")
    # THEN the portrait is not among the unfiltered top candidates, but the filter finds it
    assert portrait.id not in [row["id"] for row in unfiltered["results"]]
    ids = [row["id"] for row in filtered["results"]]
    assert portrait.id in ids
    assert all(row["height"] > row["width"] for row in filtered["results"])


def test_search_takes_the_gallery_filters_and_orderings(api, gallery, make_image, bob):
    by_bob = _search(api, q="cathedral painting", author="bob")
    assert [row["id"] for row in by_bob["results"]] == [gallery["artist"].id]
    newest = _search(api, q="painting", ordering="-created")
    created = [row["created"] for row in newest["results"]]
    assert created == sorted(created, reverse=True)
    assert api.get("/api/search/", {"q": "cat", "ordering": "sideways"}).status_code == 400
    assert api.get("/api/search/", {"q": "cat", "aspect": "round"}).status_code == 400


def test_search_pages_with_a_cursor(api, gallery):
    first = _search(api, q="painting", page_size=1)
    assert len(first["results"]) == 1 and first["next"]
    second = api.get(first["next"]).json()
    assert second["results"][0]["id"] != first["results"][0]["id"]
    assert second["previous"]
    bad = api.get("/api/search/", {"q": "cat", "cursor": "forged"})
    assert bad.status_code == 400 and "cursor" in bad.json()["detail"]


@pytest.mark.parametrize("query", HOSTILE)
def test_a_hostile_query_answers_200_or_400_never_500(api, make_image, index_prompts, query):
    make_image(prompt="a kitten made of glass, by Dale Chihuly")
    index_prompts()
    response = api.get("/api/search/", {"q": query})
    assert response.status_code in (200, 400)
    body = response.json()
    assert "results" in body if response.status_code == 200 else body["detail"]


def test_a_search_costs_a_fixed_number_of_queries(api, gallery, make_image, index_prompts):
    for n in range(6):
        make_image(prompt=f"impressionist painting of a dog, study {n}")
    index_prompts()
    _search(api, q="warm up the vector cache")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        _search(api, q="impressionist painting", aspect="square")
    assert len(few) <= 6


def test_similar_images_leave_out_the_image_and_its_exact_duplicates(api, gallery, make_image):
    twin = make_image(prompt="impressionist painting of a cat, soft brush strokes", seed=7)
    other_cat = make_image(prompt="a kitten in the style of Claude Monet, oil painting")
    from prompts.services import prompt_embeddings_backfill

    prompt_embeddings_backfill()
    cat = gallery["cat"]
    response = api.get(f"/api/images/{cat.id}/similar/")
    assert response.status_code == 200
    body = response.json()
    ids = [row["id"] for row in body["results"]]
    assert body["by"] == "prompt"
    assert cat.id not in ids and twin.id not in ids
    assert ids[0] == other_cat.id
    assert body["results"][0]["matched"] == "semantic"


def test_explore_this_style_is_its_own_pivot(api, gallery):
    cat = gallery["cat"]
    body = api.get(f"/api/images/{cat.id}/similar/", {"by": "style", "limit": 2}).json()
    assert body["by"] == "style"
    assert 0 < len(body["results"]) <= 2
    assert cat.id not in [row["id"] for row in body["results"]]


def test_similar_refuses_unknown_pivots_and_unknown_images(api, gallery):
    cat = gallery["cat"]
    assert api.get(f"/api/images/{cat.id}/similar/", {"by": "colour"}).status_code == 400
    assert api.get(f"/api/images/{cat.id}/similar/", {"limit": "0"}).status_code == 400
    assert api.get("/api/images/987654/similar/").status_code == 404


def test_a_new_image_is_searchable_once_its_prompt_is_embedded_after_commit(
    api, make_image, embedder, django_capture_on_commit_callbacks
):
    from config.celery import app as celery_app

    celery_app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            image = make_image(prompt="a lighthouse in a storm, dramatic lighting")
    finally:
        celery_app.conf.task_always_eager = False
    assert _search(api, q="beacon tower battered by waves")["results"][0]["id"] == image.id


def test_an_image_whose_prompt_changes_is_found_by_the_new_prompt(api, gallery, index_prompts):
    from prompts.services import prompt_get_or_create

    car = gallery["car"]
    car.prompt = prompt_get_or_create(text="a snowy mountain village at dusk")
    car.save(update_fields=["prompt"])
    index_prompts()
    assert _search(api, q="alpine hamlet in winter")["results"][0]["id"] == car.id
    assert car.id not in [row["id"] for row in _search(api, q="vintage car")["results"]]


@pytest.fixture
def styles(make_image, index_prompts):
    """Monet-like paintings, other painters and photos, of cats and of other things."""
    monet = "by claude monet, impressionism, soft light"
    images = {
        "monet_cat": make_image(prompt=f"a cat, {monet}"),
        "monet_dragon": make_image(prompt=f"a dragon over a city, {monet}"),
        "cat_photo": make_image(prompt="a cat sitting on a sofa, photo, 35mm"),
        "lilies": make_image(prompt="water lilies on a pond, impressionist painting, soft light"),
        "parasol": make_image(
            prompt="a portrait of a woman with a parasol, impressionist painting"
        ),
        "sailboat": make_image(prompt="a sailboat on a calm sea, oil on canvas, soft light"),
        "knight": make_image(
            prompt="portrait of a knight, by greg rutkowski, digital painting, dramatic lighting"
        ),
        "car": make_image(prompt="a red vintage car on a desert road"),
        # The same prompt with another negative: a duplicate, not "in the style of" itself.
        "twin": make_image(prompt=f"a cat, {monet}", negative_prompt="blurry"),
    }
    index_prompts()
    return images


def _similar_ids(api, image, by: str) -> list[int]:
    response = api.get(f"/api/images/{image.id}/similar/", {"by": by, "limit": 10})
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_explore_this_style_compares_style_parts_whatever_the_subject(api, styles):
    # GIVEN a Monet cat, a Monet dragon, a cat photo, other impressionist paintings and others
    # WHEN someone explores the Monet cat's style, and its similar images
    by_style = _similar_ids(api, styles["monet_cat"], "style")
    by_prompt = _similar_ids(api, styles["monet_cat"], "prompt")
    # THEN the Monet dragon comes first, and the cat photo after every impressionist painting
    assert by_style[0] == styles["monet_dragon"].id
    painted = [by_style.index(styles[name].id) for name in ("lilies", "parasol", "sailboat")]
    assert max(painted) < by_style.index(styles["cat_photo"].id)
    # AND impressionist paintings of anything come before another painter's style: the whole
    # prompts of the knight and the Monet cat share more words ("portrait", "by", "painting")
    assert by_style.index(styles["lilies"].id) < by_style.index(styles["knight"].id)
    # AND the image itself and its duplicate prompt are left out, though the duplicate's style
    # is as near as the dragon's
    assert styles["monet_cat"].id not in by_style and styles["twin"].id not in by_style
    # AND the pivots differ: the whole prompt ranks the cat photo higher than its style does
    assert by_prompt.index(styles["cat_photo"].id) < by_style.index(styles["cat_photo"].id)


def test_explore_this_style_finds_the_same_modifiers_under_a_long_subject(
    api, styles, make_image, index_prompts, settings
):
    # GIVEN a Monet-style prompt whose long subject puts its whole-prompt vector far from the
    # style, and a vector stage too small to reach it
    train = make_image(
        prompt="an old steam locomotive with a red boiler crossing a long iron bridge over a "
        "deep canyon at noon, passengers waving, by claude monet, impressionism, soft light"
    )
    index_prompts()
    settings.SEARCH_STYLE_CANDIDATES = 3
    # WHEN someone explores the Monet cat's style
    by_style = _similar_ids(api, styles["monet_cat"], "style")
    # THEN the keyword side brought it in, and its identical style ranks it with the dragon
    assert set(by_style[:2]) == {train.id, styles["monet_dragon"].id}

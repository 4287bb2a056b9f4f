"""NSFW levels and moderation across every list endpoint, each with a pinned query count.

The rule lives in one selector (`gallery.selectors.images_visible`); these tests check that every
list goes through it: anonymous visitors and new accounts see safe images only, an opted-in
account sees every rating, owners always see their own, and hidden images are gone for others.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gallery.models import Image, Profile
from gallery.social import services
from prompts.services import prompt_embeddings_backfill

pytestmark = pytest.mark.django_db

RATINGS = list(Image.Rating.values)


@pytest.fixture
def world(make_image, alice, bob, charlie, index_prompts):
    """alice has one fox of each rating, all in her public collection "Foxes"; bob follows her,
    is old enough and shows mature images; bob and charlie like all of them."""
    type(bob).objects.filter(pk=bob.pk).update(date_joined=timezone.now() - dt.timedelta(days=9))
    bob.refresh_from_db()
    services.profile_update(user=bob, changes={"mature": Profile.Mature.SHOW})
    board = services.collection_create(owner=alice, name="Foxes")
    pivot = make_image(owner=charlie, prompt="a fox sitting in a meadow, watercolor")
    images = {}

    def add_set(suffix: str) -> None:
        for rating in RATINGS:
            image = make_image(prompt=f"a fox in the {rating} forest {suffix}", rating=rating)
            images[(rating, suffix)] = image
            services.collection_image_add(collection=board, image=image)
            for fan in (bob, charlie):
                services.like_create(user=fan, image=image)

    add_set("one")
    services.follow_create(follower=bob, followee=alice)
    services.follow_create(follower=charlie, followee=alice)
    index_prompts()
    return {"board": board, "pivot": pivot, "images": images, "add_set": add_set}


ENDPOINTS = {
    "gallery": lambda w: "/api/images/",
    "top": lambda w: "/api/images/?ordering=-likes",
    "trending": lambda w: "/api/images/?ordering=trending",
    "profile": lambda w: "/api/images/?author=alice",
    "liked": lambda w: "/api/images/?liked_by=me",
    "search": lambda w: "/api/search/?q=fox+forest",
    "similar": lambda w: f"/api/images/{w['pivot'].id}/similar/?limit=50",
    "feed": lambda w: "/api/feed/following/",
    "collection": lambda w: f"/api/collections/{w['board'].id}/images/",
}
NEEDS_SIGN_IN = {"liked", "feed"}

# Queries per signed-in request, the same for 4 images or 8. One of them is the viewer's NSFW
# preference. Search and similar also read the vector index's change check and the page's rows
# by id (they rank in memory); a collection's images read the collection (with its cover) first.
QUERIES = {
    "gallery": 2,
    "top": 2,
    "trending": 2,
    "profile": 2,
    "liked": 2,
    "search": 5,
    "similar": 6,
    "feed": 3,  # also counts the follows, to choose the plan
    "collection": 4,
}


def alices(response, world):
    assert response.status_code == 200, response.content
    mine = {image.id: rating for (rating, _), image in world["images"].items()}
    return sorted(mine[row["id"]] for row in response.json()["results"] if row["id"] in mine)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_list_shows_anonymous_and_new_accounts_safe_images_only(
    api, world, charlie, endpoint
):
    url = ENDPOINTS[endpoint](world)
    if endpoint not in NEEDS_SIGN_IN:
        assert alices(api.get(url), world) == ["safe"]
    api.force_authenticate(charlie)
    assert alices(api.get(url), world) == ["safe"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_list_shows_an_opted_in_account_every_rating(api, world, bob, endpoint):
    api.force_authenticate(bob)
    assert alices(api.get(ENDPOINTS[endpoint](world)), world) == sorted(RATINGS)


@pytest.mark.parametrize("endpoint", sorted(set(ENDPOINTS) - {"feed", "similar"}))
def test_every_list_shows_owners_all_their_own_images(api, world, alice, endpoint):
    if endpoint == "liked":
        for image in world["images"].values():
            services.like_create(user=alice, image=image)
    api.force_authenticate(alice)
    assert alices(api.get(ENDPOINTS[endpoint](world)), world) == sorted(RATINGS)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_list_drops_an_image_hidden_by_reports(api, world, bob, settings, endpoint):
    settings.REPORT_HIDE_THRESHOLD = 1
    explicit = world["images"][("explicit", "one")]
    services.report_create(reporter=bob, image=explicit, reason="illegal")
    api.force_authenticate(bob)
    assert alices(api.get(ENDPOINTS[endpoint](world)), world) == ["safe", "suggestive", "unrated"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_list_costs_a_fixed_number_of_queries(api, world, bob, endpoint):
    url = ENDPOINTS[endpoint](world)

    def count() -> int:
        # A fresh user object per request, as in a real one (the preference is cached on it);
        # a first request warms the vector index's in-memory copy after new prompts.
        api.force_authenticate(type(bob).objects.get(pk=bob.pk))
        api.get(url)
        api.force_authenticate(type(bob).objects.get(pk=bob.pk))
        with CaptureQueriesContext(connection) as queries:
            response = api.get(url)
        assert response.status_code == 200
        return len(queries), response

    few, _ = count()
    world["add_set"]("two")
    prompt_embeddings_backfill()
    many, response = count()
    assert len(alices(response, world)) == 8
    # The vector side costs one statement more: PostgreSQL sets hnsw.ef_search, SQLite reads
    # the index's change token (is the in-memory copy current?).
    vector_statement = endpoint in ("search", "similar")
    assert few == many == QUERIES[endpoint] + vector_statement

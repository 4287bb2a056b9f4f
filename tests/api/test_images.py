"""GET /api/images/ and /api/images/{id}/: the contract, pagination, filters, bad input."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gallery.models import Image
from gallery.serializers import ImageDetailSerializer, ImageSerializer

pytestmark = pytest.mark.django_db

CONTRACT_FIELDS = {
    "id",
    "image_url",
    "thumbnail_url",
    "width",
    "height",
    "prompt",
    "negative_prompt",
    "model",
    "model_hash",
    "scheduler",
    "steps",
    "cfg_scale",
    "seed",
    "clip_skip",
    "source",
    "owner",
    "created",
    "infotext",
}


def test_it_lists_images_newest_first_with_every_contract_field(api, make_image):
    old = make_image(prompt="an old lighthouse")
    new = make_image(prompt="a new lighthouse")
    response = api.get("/api/images/")
    assert response.status_code == 200
    body = response.json()
    assert [row["id"] for row in body["results"]] == [new.id, old.id]
    assert set(body) >= {"next", "previous", "results"}
    row = body["results"][0]
    assert set(row) >= CONTRACT_FIELDS
    assert row["prompt"] == "a new lighthouse"
    assert row["owner"] == "alice"
    assert row["image_url"].startswith("http://testserver/media/images/")
    assert row["thumbnail_url"].endswith(".webp")


def test_the_hand_written_representation_matches_the_declared_schema_fields(make_image):
    image = make_image()
    assert set(ImageSerializer(image).data) == set(ImageSerializer().fields)
    detail = ImageDetailSerializer(image).data
    assert set(detail) == set(ImageDetailSerializer().fields)


def test_the_detail_shows_the_a1111_infotext_and_lineage(api, make_image):
    parent = make_image(prompt="a fox")
    child = make_image(prompt="a fox, (snow:1.2)", negative_prompt="blurry", parents=[parent])
    body = api.get(f"/api/images/{child.id}/").json()
    assert body["infotext"] == (
        "a fox, (snow:1.2)\nNegative prompt: blurry\n"
        "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 64x64, Model: tiny-test"
    )
    assert body["parents"] == [parent.id]
    assert api.get(f"/api/images/{parent.id}/").json()["remixes"] == [child.id]


def test_cursor_pages_cover_every_image_once_both_ways(api, make_image):
    ids = [make_image(prompt=f"prompt {i}").id for i in range(7)]
    seen, url, pages = [], "/api/images/?page_size=3", []
    while url:
        body = api.get(url).json()
        pages.append(body)
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert seen == sorted(ids, reverse=True)
    assert len(pages) == 3
    back = api.get(pages[2]["previous"]).json()
    assert [row["id"] for row in back["results"]] == [row["id"] for row in pages[1]["results"]]


def test_images_with_equal_like_counts_page_without_gaps_or_repeats(api, make_image):
    images = [make_image(prompt=f"p{i}") for i in range(6)]
    Image.objects.filter(id__in=[i.id for i in images[:4]]).update(like_count=5)
    Image.objects.filter(id=images[5].id).update(like_count=9)
    seen, url = [], "/api/images/?ordering=-likes&page_size=2"
    while url:
        body = api.get(url).json()
        seen += [(row["like_count"], row["id"]) for row in body["results"]]
        url = body["next"]
    assert seen == sorted(seen, reverse=True)
    assert len({image_id for _, image_id in seen}) == 6


@pytest.mark.parametrize(
    "query",
    [
        "page_size=abc",
        "cursor=garbage",
        "cursor=eyJvIjoiLWNyZWF0ZWQifQ",
        "ordering=random",
        "created_after=yesterday",
        "aspect=round",
    ],
)
def test_bad_query_values_answer_400_with_a_sentence(api, make_image, query):
    make_image()
    response = api.get(f"/api/images/?{query}")
    assert response.status_code == 400
    assert isinstance(response.json()["detail"], str) and response.json()["detail"]


def test_a_huge_page_size_is_clamped_to_100(api, make_image):
    for i in range(3):
        make_image(prompt=f"p{i}")
    response = api.get(f"/api/images/?page_size={10**9}")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 3


def test_a_cursor_from_another_ordering_is_refused(api, make_image):
    for i in range(3):
        make_image(prompt=f"p{i}")
    next_url = api.get("/api/images/?page_size=1").json()["next"]
    cursor = next_url.split("cursor=")[1]
    response = api.get(f"/api/images/?ordering=-likes&cursor={cursor}")
    assert response.status_code == 400


def test_filters_narrow_the_list(api, make_image, bob):
    tall = make_image(prompt="tall", width=64, height=96)
    wide = make_image(prompt="wide", width=96, height=64, model_name="sdxl")
    square = make_image(owner=bob, prompt="square")
    Image.objects.filter(id=tall.id).update(created=timezone.now() - dt.timedelta(days=30))

    def ids(query: str) -> set[int]:
        response = api.get(f"/api/images/?{query}")
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    assert ids("aspect=portrait") == {tall.id}
    assert ids("aspect=landscape") == {wide.id}
    assert ids("aspect=square") == {square.id}
    assert ids("author=bob") == {square.id}
    assert ids("model=sdxl") == {wide.id}
    week_ago = (timezone.now() - dt.timedelta(days=7)).isoformat().replace("+00:00", "Z")
    assert ids(f"created_after={week_ago}") == {wide.id, square.id}
    assert ids("author=nobody") == set()


def test_an_unknown_image_is_a_json_404(api):
    response = api.get("/api/images/999999/")
    assert response.status_code == 404
    assert response.json()["detail"]
    assert api.get("/api/no-such-thing/").status_code == 404
    assert api.get("/api/no-such-thing/").json()["detail"]


def test_the_list_costs_the_same_number_of_queries_for_3_or_30_images(api, make_image):
    for i in range(3):
        make_image(prompt=f"few {i}")
    with CaptureQueriesContext(connection) as few:
        api.get("/api/images/")
    for i in range(27):
        make_image(prompt=f"many {i}")
    with CaptureQueriesContext(connection) as many:
        response = api.get("/api/images/")
    assert len(response.json()["results"]) == 30
    assert len(many) == len(few) == 1


def test_prompts_list_their_images(api, make_image):
    first = make_image(prompt="A red fox,  in the snow")
    second = make_image(prompt="a red fox, in the snow")
    make_image(prompt="something else")
    body = api.get("/api/prompts/").json()
    assert len(body["results"]) == 2
    fox = next(row for row in body["results"] if row["prompt"].lower().startswith("a red fox"))
    assert {img["id"] for img in fox["images"]} == {first.id, second.id}
    detail = api.get(f"/api/prompts/{fox['id']}/").json()
    assert detail["image_count"] == 2
    assert api.get("/api/prompts/424242/").status_code == 404

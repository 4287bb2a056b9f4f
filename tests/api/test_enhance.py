"""The prompt enhancer: POST /api/prompts/enhance/ and the ranking behind it."""

from __future__ import annotations

import pytest

from gallery.models import Image
from prompts.enhance import Neighbour, prompt_enhance

pytestmark = pytest.mark.django_db


def test_modifiers_rank_by_similarity_and_likes_and_pool_near_duplicates():
    neighbours = [
        Neighbour("a cat on a sofa, highly detailed, oil painting, golden hour", 0.8, 0, (1,)),
        Neighbour("a kitten, high detail, oil painting, 85mm", 0.7, 10, (2,)),
        Neighbour("a tabby cat, watercolor, 8k", 0.3, 0, (3,)),
    ]
    result = prompt_enhance(idea="a photo of a cat", neighbours=neighbours)
    styles = [s.text for s in result.suggestions["style"]]
    assert styles == ["oil painting", "watercolor"]
    quality = result.suggestions["quality"]
    # "highly detailed" and "high detail" are one modifier, used twice; the liked kitten's
    # image is the first example.
    assert [(s.uses, s.examples) for s in quality if "detail" in s.text] == [(2, [2, 1])]
    assert [s.text for s in result.suggestions["camera"]] == ["85mm"]
    assert len(result.prompts) == 3
    assert result.prompts[0].startswith("a photo of a cat, oil painting")
    assert "golden hour" in result.prompts[0]
    # No subject phrase of another prompt leaks into the suggestions.
    assert all("sofa" not in s.text for g in result.suggestions.values() for s in g)


def test_likes_lift_a_modifier_from_a_less_similar_prompt():
    liked = Neighbour("a dog, watercolor", 0.5, 1000)
    plain = Neighbour("a dog, oil painting", 0.6, 0)
    result = prompt_enhance(idea="a dog", neighbours=[plain, liked])
    assert [s.text for s in result.suggestions["style"]] == ["watercolor", "oil painting"]


def test_the_api_learns_modifiers_from_the_nearest_liked_prompts(api, make_image, index_prompts):
    cat = make_image(prompt="a cat sleeping on a windowsill, oil painting, golden hour, 8k")
    make_image(prompt="a kitten in a garden, oil painting, bokeh, highly detailed")
    make_image(prompt="a spaceship over a neon city, synthwave, cinematic lighting")
    Image.objects.filter(id=cat.id).update(like_count=7)
    index_prompts()
    response = api.post("/api/prompts/enhance/", {"idea": "a photo of a cat"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body["suggestions"]) == {"style", "lighting", "camera", "quality"}
    top_style = body["suggestions"]["style"][0]
    assert top_style["text"] == "oil painting"
    assert top_style["examples"][0]["id"] == cat.id
    assert top_style["examples"][0]["thumbnail_url"].startswith("http://testserver/media/")
    assert len(body["prompts"]) == 3
    assert body["prompts"][0].startswith("a photo of a cat, oil painting")


@pytest.mark.parametrize("body", [{}, {"idea": ""}, {"idea": "   "}, {"idea": "x" * 501}])
def test_the_api_refuses_an_empty_or_huge_idea(api, body):
    response = api.post("/api/prompts/enhance/", body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"]


def test_the_enhancer_page_shows_modifiers_by_role_and_three_prompts(
    client, make_image, index_prompts
):
    make_image(prompt="a cat sleeping on a windowsill, oil painting, golden hour, 8k")
    index_prompts()
    html = client.get("/enhance/", {"idea": "a photo of a cat"}).content.decode()
    assert html.count('class="enhanced-prompt"') == 3
    assert 'data-modifier="oil painting"' in html
    assert 'data-modifier="golden hour"' in html
    assert "/generate/?prompt=a%20photo%20of%20a%20cat%2C%20oil%20painting" in html
    empty = client.get("/enhance/", {"idea": "   "}).content.decode()
    assert "enhanced-prompt" not in empty


def test_the_generator_opens_with_a_prompt_from_the_enhancer(client):
    html = client.get("/generate/", {"prompt": "a cat, oil painting"}).content.decode()
    assert ">a cat, oil painting</textarea>" in html

"""POST /api/prompts/parse/ and /api/prompts/combine/: the contract and bad input."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_parse_returns_phrases_with_weight_role_and_tokens(api):
    response = api.post(
        "/api/prompts/parse/",
        {"prompt": "a red fox, (oil painting:1.2), <lora:fur:0.6> --ar 3:2"},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert [(p["text"], p["weight"], p["role"]) for p in body["phrases"]] == [
        ("a red fox", 1.0, "subject"),
        ("oil painting", 1.2, "style"),
        ("fur", 0.6, "lora"),
    ]
    assert body["params"] == [["ar", "3:2"]]
    assert body["tokens"] == 6
    assert body["chunks"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "prompt"), ({"prompt": "x" * 4001}, "prompt"), ({"prompt": None}, "prompt")],
)
def test_parse_refuses_bad_input_with_a_clear_detail(api, body, field):
    response = api.post("/api/prompts/parse/", body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith(field)


def test_combine_merges_the_prompts_of_images_and_tags_phrases_with_image_ids(
    api, make_image, embedder
):
    knight = make_image(
        prompt="a knight, highly detailed, by greg rutkowski", negative_prompt="blurry"
    )
    castle = make_image(prompt="a castle, high detail, greg rutkowski, oil painting")
    response = api.post("/api/prompts/combine/", {"sources": [knight.id, castle.id]}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["prompt"] == "a knight, a castle, by greg rutkowski, oil painting, highly detailed"
    assert body["negative_prompt"] == "blurry"
    assert [(p["text"], p["source"]) for p in body["phrases"]] == [
        ("a knight", knight.id),
        ("a castle", castle.id),
        ("by greg rutkowski", knight.id),
        ("oil painting", castle.id),
        ("highly detailed", knight.id),
    ]
    assert body["sources"] == [knight.id, castle.id]


def test_combine_takes_raw_prompts_and_labels_them_by_position(api, embedder):
    response = api.post(
        "/api/prompts/combine/",
        {
            "sources": [{"prompt": "a fox"}, {"prompt": "watercolor", "negative_prompt": "text"}],
            "strategy": "weighted",
            "weights": [1.5, 1],
        },
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["prompt"] == "(a fox:1.5), watercolor"
    assert [p["source"] for p in body["phrases"]] == [0, 1]
    assert body["negative_prompt"] == "text"


def test_a_blend_answers_the_prompts_to_mix_labelled_like_the_phrases(api, embedder, make_image):
    fox = make_image(prompt="a red fox in the snow, watercolor")
    response = api.post(
        "/api/prompts/combine/",
        {"sources": [fox.id, {"prompt": "a castle, by greg rutkowski"}], "strategy": "blend"},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["blend"] == [
        {"prompt": "a red fox in the snow, watercolor", "weight": 0.5, "source": fox.id},
        {"prompt": "a castle, by greg rutkowski", "weight": 0.5, "source": 1},
    ]
    assert "a red fox in the snow" in body["prompt"] and "a castle" in body["prompt"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"sources": [1]}, "sources"),
        ({"sources": [999999, 999998]}, "There is no image 999999."),
        ({"sources": ["a", {"prompt": "b"}]}, "sources"),
        ({"sources": [{"prompt": 3}, {"prompt": "b"}]}, "sources"),
        (
            {"sources": [{"prompt": "a"}, {"prompt": ""}], "strategy": "blend"},
            "Source 2 has no prompt to blend.",
        ),
        ({"sources": [{"prompt": "a"}, {"prompt": "b"}], "strategy": "x"}, "strategy"),
        ({"sources": [{"prompt": "a"}, {"prompt": "b"}], "token_budget": 0}, "token_budget"),
        ({"sources": [True, False]}, "sources"),
    ],
)
def test_combine_refuses_bad_input_with_a_clear_detail(api, body, detail):
    response = api.post("/api/prompts/combine/", body, format="json")
    assert response.status_code == 400
    assert detail in response.json()["detail"]

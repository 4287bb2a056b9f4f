"""Prompt anatomy: phrases, weights, roles, syntax, and the render that writes them back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from prompts.anatomy import (
    WEIGHT_TOLERANCE,
    phrases_with_chunks,
    prompt_parse,
    prompt_render,
    prompt_token_count,
)


def _view(text: str) -> list[tuple[str, float, str, str]]:
    return [(p.text, round(p.weight, 4), p.role, p.kind) for p in prompt_parse(text).phrases]


def test_it_splits_a_typical_prompt_into_phrases_with_roles():
    text = (
        "a beautiful woman dancer on a stage, spotlight, highly detailed, digital painting, "
        "artstation, sharp focus, cinematic lighting, art by artgerm and greg rutkowski, 8k"
    )
    assert [(p.text, p.role) for p in prompt_parse(text).phrases] == [
        ("a beautiful woman dancer on a stage", "subject"),
        ("spotlight", "lighting"),
        ("highly detailed", "quality"),
        ("digital painting", "style"),
        ("artstation", "quality"),
        ("sharp focus", "camera"),
        ("cinematic lighting", "lighting"),
        ("art by artgerm and greg rutkowski", "style"),
        ("8k", "quality"),
    ]


def test_it_reads_a1111_weights_through_the_attention_parser():
    assert _view("(red cat:1.3), ((masterpiece)), [blurry]") == [
        ("red cat", 1.3, "subject", "text"),
        ("masterpiece", 1.21, "quality", "text"),
        ("blurry", round(1 / 1.1, 4), "subject", "text"),
    ]


def test_a_weight_inside_a_phrase_keeps_the_phrase_whole():
    (phrase,) = prompt_parse("a (red:1.3) cat").phrases
    assert phrase.text == "a red cat"
    assert phrase.parts == (("a ", 1.0), ("red", 1.3), (" cat", 1.0))
    assert prompt_render([phrase]) == "a (red:1.3) cat"


def test_lora_tags_editing_break_and_and_are_their_own_phrases():
    parsed = prompt_parse(
        "a cat <lora:film_grain:0.8>, [dog:wolf:0.5], [red|blue] hat BREAK best quality "
        "AND a tree, embedding:easynegative"
    )
    kinds = [(p.kind, p.role, p.text) for p in parsed.phrases]
    assert kinds == [
        ("text", "subject", "a cat"),
        ("lora", "lora", "film_grain"),
        ("edit", "subject", "dog wolf"),
        ("edit", "subject", "red blue"),
        ("text", "subject", "hat"),
        ("break", "break", "BREAK"),
        ("text", "quality", "best quality"),
        ("and", "and", "AND"),
        ("text", "subject", "a tree"),
        ("embedding", "embedding", "easynegative"),
    ]
    assert parsed.phrases[1].weight == 0.8


def test_midjourney_parameters_are_parameters_and_no_is_a_negative_prompt():
    parsed = prompt_parse("a castle on a hill, oil painting --ar 3:2 --no text, watermark --v 5")
    assert [p.text for p in parsed.phrases] == ["a castle on a hill", "oil painting"]
    assert parsed.params == [("ar", "3:2"), ("no", "text, watermark"), ("v", "5")]
    assert parsed.negative == ["text", "watermark"]
    assert (
        prompt_render(parsed)
        == "a castle on a hill, oil painting --ar 3:2 --no text, watermark --v 5"
    )


@pytest.mark.parametrize(
    ("phrase", "role"),
    [
        ("by greg rutkowski", "style"),
        ("in the style of claude monet", "style"),
        ("greg rutkowski", "style"),
        ("oil painting by claude monet", "style"),
        ("octane render", "style"),
        ("volumetric lighting", "lighting"),
        ("golden hour", "lighting"),
        ("85mm", "camera"),
        ("depth of field", "camera"),
        ("close - up", "camera"),
        ("trending on artstation", "quality"),
        ("8 k", "quality"),
        ("masterpiece", "quality"),
        ("a painting of a cat", "subject"),
        ("a glowing sword", "subject"),
        ("a castle on a hill", "subject"),
        ("1904", "style"),  # an era
        ("manga and anime 1 9 9 9", "style"),
        ("view from river thames", "camera"),
        ("award winning architecture photography", "quality"),
        ("high quality high detail painting by norman rockwell", "style"),
        ("silhouette!!!", "lighting"),
        ("magical atmosphere", "style"),
        ("1904 in paris, a cat", "subject"),
    ],
)
def test_it_tags_each_kind_of_modifier(phrase: str, role: str):
    assert prompt_parse(phrase).phrases[0].role == role


def test_a_bare_name_next_to_artists_is_an_artist():
    roles = [p.role for p in prompt_parse("a cat, by artgerm, thomas kindkade, loish").phrases]
    assert roles == ["subject", "style", "style", "style"]


def test_a_list_of_names_after_an_artist_credit_is_artists_but_not_a_list_of_things():
    prompt = "a woman, by edward hughes, annie leibovitz and steve mccurry, david lazar"
    assert [p.role for p in prompt_parse(prompt).phrases] == ["subject", *["style"] * 3]
    things = "a woman, by edward hughes, a cat and a dog"
    assert [p.role for p in prompt_parse(things).phrases][-1] == "subject"


def test_render_round_trips_escaped_brackets():
    text = r"a \(literal\) bracket, (weighted \[square\]:1.2)"
    assert _view(prompt_render(prompt_parse(text))) == _view(text)


def test_token_count_grows_with_the_prompt_and_break_starts_a_chunk():
    assert prompt_token_count("a cat") == 2
    assert prompt_token_count("a cat, a dog") == 5
    long = ", ".join(["a red cat"] * 30)
    chunks = {chunk for _, _, chunk in phrases_with_chunks(prompt_parse(long).phrases)}
    assert chunks == {0, 1}
    parsed = prompt_parse("a cat BREAK a dog")
    assert [chunk for _, _, chunk in phrases_with_chunks(parsed.phrases)] == [0, 1, 1]


_SYNTAX = st.sampled_from(
    [
        "(",
        ")",
        "[",
        "]",
        ":",
        ":1.3",
        ",",
        " ",
        "\\",
        "BREAK",
        " AND ",
        "<lora:x:0.5>",
        "|",
        "--ar 3:2",
        "--no",
        "embedding:y",
        "8k",
        "by greg rutkowski",
        "\ufffd",
        "\U000f0001",
    ]
)
_PROMPTS = st.lists(st.one_of(_SYNTAX, st.text(max_size=8)), max_size=25).map("".join)


@hypothesis_settings(max_examples=300, deadline=None)
@given(text=_PROMPTS)
def test_any_prompt_parses_and_its_render_parses_to_the_same_phrases(text: str):
    first = prompt_parse(text)
    again = prompt_parse(prompt_render(first))
    assert [(p.text, p.role, p.kind, p.raw) for p in again.phrases] == [
        (p.text, p.role, p.kind, p.raw) for p in first.phrases
    ]
    for a, b in zip(first.phrases, again.phrases, strict=True):
        assert abs(a.weight - b.weight) <= WEIGHT_TOLERANCE * max(1.0, abs(a.weight))
    assert again.params == first.params
    assert prompt_token_count(text) >= 0


def test_the_style_part_leaves_the_subject_out():
    from prompts.anatomy import prompt_style_part

    text = "a red fox in the snow, oil painting, golden hour, by greg rutkowski, 8k"
    assert prompt_style_part(text) == "oil painting, golden hour, by greg rutkowski, 8k"
    assert prompt_style_part("a red fox in the snow") == "a red fox in the snow"

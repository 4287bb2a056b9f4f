"""Combining prompts (real MiniLM for near-duplicates) and phrase diffs."""

from __future__ import annotations

import pytest

from prompts.anatomy import prompt_parse
from prompts.remix import CombineError, SourcePrompt, prompt_combine, prompt_diff
from prompts.roles import normalize_phrase

pytestmark = pytest.mark.usefixtures("embedder")

KNIGHT = SourcePrompt(
    "a knight in armour, highly detailed, by greg rutkowski, volumetric lighting, 8k",
    "blurry, lowres",
)
CASTLE = SourcePrompt(
    "a castle on a hill, high detail, greg rutkowski, oil painting, volumetric light, "
    "(masterpiece:1.3), <lora:film:0.7> --no text",
    "blurry, watermark",
)


def _texts(result) -> list[str]:
    return [normalize_phrase(p.text) for p in result.phrases]


def test_merge_never_keeps_both_of_two_near_duplicates():
    result = prompt_combine(sources=[KNIGHT, CASTLE], strategy="merge")
    texts = _texts(result)
    assert not {"highly detailed", "high detail"} <= set(texts)
    assert len({"highly detailed", "high detail"} & set(texts)) == 1
    assert len([t for t in texts if "rutkowski" in t]) == 1
    assert len([t for t in texts if t.startswith("volumetric")]) == 1
    # Different things stay: two subjects, a medium, a LoRA.
    assert {"a knight in armour", "a castle on a hill", "oil painting", "film"} <= set(texts)


def test_an_artist_already_credited_in_a_list_is_not_credited_again():
    a = SourcePrompt("a fox, art by artgerm and greg rutkowski and alphonse mucha")
    b = SourcePrompt("a wolf, greg rutkowski, by wlop, alphonse mucha")
    texts = _texts(prompt_combine(sources=[a, b]))
    assert "".join(texts).count("rutkowski") == 1
    assert "".join(texts).count("mucha") == 1
    assert "by wlop" in texts


def test_merge_keeps_the_stronger_weight_and_orders_phrases_by_role():
    a = SourcePrompt("8k, oil painting, a red fox")
    b = SourcePrompt("(8k:1.4), golden hour, a snowy forest, close-up")
    result = prompt_combine(sources=[a, b])
    assert [(p.text, p.role, p.source) for p in result.phrases] == [
        ("a red fox", "subject", 0),
        ("a snowy forest", "subject", 1),
        ("oil painting", "style", 0),
        ("golden hour", "lighting", 1),
        ("close-up", "camera", 1),
        ("8k", "quality", 1),
    ]
    assert result.phrases[-1].weight == pytest.approx(1.4)
    assert (
        result.prompt == "a red fox, a snowy forest, oil painting, golden hour, close-up, (8k:1.4)"
    )


def test_subject_style_takes_the_subject_of_one_and_the_style_of_the_other():
    result = prompt_combine(sources=[KNIGHT, CASTLE], strategy="subject_style")
    subjects = [p.text for p in result.phrases if p.role == "subject"]
    assert subjects == ["a knight in armour"]
    assert {p.source for p in result.phrases if p.role != "subject"} == {1}
    assert "oil painting" in result.prompt
    reverse = prompt_combine(sources=[CASTLE, KNIGHT], strategy="subject_style")
    assert [p.text for p in reverse.phrases if p.role == "subject"] == ["a castle on a hill"]


def test_weighted_turns_source_weights_into_a1111_weights():
    result = prompt_combine(sources=[KNIGHT, CASTLE], strategy="weighted", weights=[1.2, 0.5])
    assert "(a knight in armour:1.2)" in result.prompt
    assert "(a castle on a hill:0.5)" in result.prompt
    assert "<lora:film:0.35>" in result.prompt
    assert "(masterpiece:0.65)" in result.prompt
    none_of_castle = prompt_combine(sources=[KNIGHT, CASTLE], strategy="weighted", weights=[1, 0])
    assert {p.source for p in none_of_castle.phrases} == {0}


def test_negative_prompts_and_midjourney_no_are_merged_without_duplicates():
    result = prompt_combine(sources=[KNIGHT, CASTLE])
    assert result.negative_prompt == "blurry, lowres, watermark, text"


@pytest.mark.parametrize("budget", [6, 12, 20])
def test_the_result_stays_within_the_token_budget_dropping_polish_first(budget: int):
    result = prompt_combine(sources=[KNIGHT, CASTLE], token_budget=budget)
    assert result.tokens <= budget
    assert result.phrases[0].text == "a knight in armour"
    assert result.dropped
    dropped_roles = [p.role for p in result.dropped]
    assert dropped_roles[0] == "quality"
    # What the tokens estimate says, the rendered prompt confirms.
    assert len(prompt_parse(result.prompt).phrases) == len(result.phrases)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sources": [KNIGHT]}, "2 to 5 sources"),
        ({"sources": [KNIGHT] * 6}, "2 to 5 sources"),
        ({"sources": [KNIGHT, CASTLE], "strategy": "mash"}, "Unknown strategy"),
        ({"sources": [KNIGHT, SourcePrompt(" ")], "strategy": "blend"}, "no prompt to blend"),
        ({"sources": [KNIGHT, CASTLE], "strategy": "blend", "weights": [1]}, "one weight"),
        ({"sources": [KNIGHT, CASTLE, KNIGHT], "strategy": "subject_style"}, "exactly two"),
        ({"sources": [KNIGHT, CASTLE], "strategy": "weighted", "weights": [1]}, "one weight"),
        ({"sources": [KNIGHT, CASTLE], "strategy": "weighted", "weights": [0, 0]}, "above 0"),
        ({"sources": [KNIGHT, CASTLE], "strategy": "weighted", "weights": [3, 1]}, "0 to 2"),
        ({"sources": [KNIGHT, CASTLE], "weights": [1, 1]}, "only used by the weighted and blend"),
    ],
)
def test_it_refuses_requests_it_cannot_carry_out(kwargs, message):
    with pytest.raises(CombineError, match=message):
        prompt_combine(**kwargs)


def test_blend_lists_the_prompts_to_mix_with_shares_and_a_merged_stand_in():
    result = prompt_combine(sources=[KNIGHT, CASTLE], strategy="blend", weights=[1.5, 0.5])
    assert [(part.prompt, part.source) for part in result.blend] == [
        (KNIGHT.prompt, 0),
        (CASTLE.prompt, 1),
    ]
    assert [part.weight for part in result.blend] == [pytest.approx(0.75), pytest.approx(0.25)]
    # The text is the plain merge (no A1111 weights: the shares act on the embeddings).
    merged = prompt_combine(sources=[KNIGHT, CASTLE], strategy="merge")
    assert result.prompt == merged.prompt
    assert result.negative_prompt == merged.negative_prompt == "blurry, lowres, watermark, text"


def test_a_blend_source_weighted_zero_is_left_out_of_the_mix_and_the_text():
    result = prompt_combine(sources=[KNIGHT, CASTLE], strategy="blend", weights=[1, 0])
    assert [(part.source, part.weight) for part in result.blend] == [(0, 1.0)]
    assert "castle" not in result.prompt
    assert prompt_combine(sources=[KNIGHT, CASTLE], strategy="merge").blend == []


def test_the_diff_shows_added_removed_and_reweighted_phrases():
    diff = prompt_diff(
        parent="a knight, by greg rutkowski, 8k, oil painting",
        child="a knight, greg rutkowski, (8k:1.3), golden hour",
    )
    assert [p.text for p in diff.added] == ["golden hour"]
    assert [p.text for p in diff.removed] == ["oil painting"]
    assert [(a.text, b.weight) for a, b in diff.reweighted] == [("8k", pytest.approx(1.3))]
    assert [p.text for p in diff.kept] == ["a knight", "greg rutkowski"]


def test_merge_catches_near_duplicates_only_minilm_sees():
    # "digital art" / "digital artwork" share no lexical key (art, artwork): cosine 0.93.
    # "oil painting" is related to both (0.6) and stays.
    a = SourcePrompt("a fox, digital art")
    b = SourcePrompt("a wolf, (digital artwork:1.2), oil painting")
    result = prompt_combine(sources=[a, b])
    assert _texts(result) == ["a fox", "a wolf", "digital artwork", "oil painting"]
    assert result.phrases[2].weight == pytest.approx(1.2)

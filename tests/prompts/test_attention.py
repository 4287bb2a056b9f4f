"""A1111 attention syntax: what users type means what A1111 makes of it, and compel agrees."""

from __future__ import annotations

import functools
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prompts.attention import (
    BREAK,
    BREAK_WEIGHT,
    is_break,
    parse_attention,
    to_compel,
    to_compel_parts,
)


def approx_chunks(chunks: list[tuple[str, float]]) -> list[tuple[str, float]]:
    return [(text, round(weight, 6)) for text, weight in chunks]


@pytest.mark.parametrize(
    ("prompt", "chunks"),
    [
        ("a cat", [("a cat", 1.0)]),
        ("", [("", 1.0)]),
        ("a (cat:1.3) on a mat", [("a ", 1.0), ("cat", 1.3), (" on a mat", 1.0)]),
        ("(cat)", [("cat", 1.1)]),
        ("((cat))", [("cat", 1.21)]),
        ("[cat]", [("cat", 0.909091)]),
        ("[[cat]]", [("cat", 0.826446)]),
        ("([cat])", [("cat", 1.0)]),
        ("(a (b:1.5) c)", [("a ", 1.1), ("b", 1.65), (" c", 1.1)]),
        ("( cat : 0.5 )", [(" cat ", 0.5)]),
        ("(cat:-1)", [("cat", -1.0)]),
        # Escaped brackets are text, and so is a backslash before anything else.
        (r"\(cat\) \[dog\]", [("(cat) [dog]", 1.0)]),
        (r"a \\ b", [("a \\ b", 1.0)]),
        (r"C:\path", [("C:\\path", 1.0)]),
        # Unbalanced brackets, as A1111: an unclosed one weighs the rest, a stray closer is text.
        ("a (cat", [("a ", 1.0), ("cat", 1.1)]),
        ("a [cat", [("a ", 1.0), ("cat", 0.909091)]),
        ("cat) dog]", [("cat) dog]", 1.0)]),
        ("a:1.5) b", [("a:1.5) b", 1.0)]),
        # A colon that is not a weight is text; a malformed weight too.
        ("(time: 12:30 pm)", [("time: 12:30 pm", 1.1)]),
        ("(time: 12:30)", [("time: 12", 30.0)]),  # A1111 reads this as a weight too
        ("(a:1.2.3)", [("a:1.2.3", 1.1)]),
        # Equal neighbours merge.
        ("(a)(b)", [("ab", 1.1)]),
    ],
)
def test_it_parses_a1111_attention_syntax(prompt, chunks):
    assert approx_chunks(parse_attention(prompt)) == chunks


def test_break_is_its_own_chunk_and_never_merges():
    chunks = parse_attention("a cat BREAK BREAK (a dog BREAK on grass)")
    assert approx_chunks(chunks) == [
        ("a cat", 1.0),
        (BREAK, BREAK_WEIGHT),
        (BREAK, BREAK_WEIGHT),
        ("a dog", 1.1),
        (BREAK, BREAK_WEIGHT),
        ("on grass", 1.1),
    ]
    assert [is_break(chunk) for chunk in chunks] == [False, True, True, False, True, False]


def test_break_counts_only_as_a_whole_upper_case_word():
    assert parse_attention("BREAKFAST break Break") == [("BREAKFAST break Break", 1.0)]


def test_a_negative_weight_is_not_a_break():
    assert not is_break(("cat", BREAK_WEIGHT))


@pytest.mark.parametrize(
    ("prompt", "compel"),
    [
        ("a cat", "a cat"),
        ("a (cat:1.3)", "a  (cat)1.3"),
        ("[cat]", "(cat)0.909091"),
        ("((cat))", "(cat)1.21"),
        # compel syntax in user text stays text.
        ("a cat+ and dog-", "a cat + and dog -"),
        ('say "hi" (to:1.2) them', 'say \\"hi\\"  (to)1.2  them'),
        (r"\(parens\)", "\\(parens\\)"),
        ("close-up, well-lit (close-up:1.2)", "close-up, well-lit  (close-up)1.2"),
        ("(cat:-1)", "(cat)0"),
        ("a (cat:1.3)5 dogs", "a  (cat)1.3 5 dogs"),
        ("a BREAK b", '("a", "b").and()'),
        ("", ""),
    ],
)
def test_it_translates_to_compel_syntax(prompt, compel):
    assert to_compel(prompt) == compel


def test_each_break_part_translates_on_its_own():
    assert to_compel_parts("a (cat:1.2) BREAK  BREAK dog") == ["a  (cat)1.2", "dog"]
    assert to_compel_parts("BREAK") == [""]


# --- compel reads the translation as the same tokens with the same weights ------------------

# CLIP's tokenizer splits text into letter runs, single digits and punctuation runs before BPE.
WORD = re.compile(r"[^\W\d_]+|\d")
PUNCTUATION = re.compile(r"(?:[^\w\s]|_)+")


def expected_words(prompt: str) -> list[list[tuple[str, float]]]:
    parts: list[list[tuple[str, float]]] = [[]]
    for chunk in parse_attention(prompt):
        if is_break(chunk):
            parts.append([])
        else:
            parts[-1] += [(word, round(max(chunk[1], 0), 4)) for word in WORD.findall(chunk[0])]
    return [part for part in parts if part]


@functools.cache
def compel_parser():
    from compel.prompt_parser import PromptParser

    return PromptParser()  # building the grammar is the slow part


def compel_fragments(prompt: str) -> list[list[tuple[str, float]]]:
    from compel.prompt_parser import Fragment

    parser = compel_parser()
    parts = []
    for part in to_compel_parts(prompt):
        fragments = []
        for flattened in parser.parse_conjunction(part).prompts:
            for fragment in flattened.children:
                assert type(fragment) is Fragment, f"compel read syntax in {part!r}: {fragment}"
                fragments.append((fragment.text, fragment.weight))
        parts.append(fragments)
    return parts


def compel_words(prompt: str) -> list[list[tuple[str, float]]]:
    parts = [
        [(word, round(weight, 4)) for text, weight in part for word in WORD.findall(text)]
        for part in compel_fragments(prompt)
    ]
    return [part for part in parts if part]


def punctuation(text: str) -> str:
    # Backslashes may be added (before .swap) or lost (compel unescapes twice): see to_compel.
    return "".join(PUNCTUATION.findall(text)).replace("\\", "")


SYNTAX = ["BREAK", " BREAK ", ":1.5)", ":0.5)", "withLora(", "useLora(", ".swap(", ".and("]
A1111_TEXT = st.lists(
    st.sampled_from([*'abc xyz 12.,+-=()[]\\":!_\n', *SYNTAX, ".blend(", ".attend(", "é", "🐱"]),
    max_size=24,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(A1111_TEXT)
def test_compel_reads_any_translation_as_the_same_words_and_weights(prompt):
    got, want = compel_words(prompt), expected_words(prompt)
    # Weights compared to 1e-3: both sides round 4 decimals of floats like 2.19615 differently.
    assert [[w for w, _ in part] for part in got] == [[w for w, _ in part] for part in want]
    for got_part, want_part in zip(got, want, strict=True):
        for (_, got_weight), (_, want_weight) in zip(got_part, want_part, strict=True):
            assert math.isclose(got_weight, want_weight, abs_tol=1e-3)
    expected = "".join(text for text, weight in parse_attention(prompt) if weight != BREAK_WEIGHT)
    assert punctuation("".join(t for part in compel_fragments(prompt) for t, _ in part)) == (
        punctuation(expected)
    )


@pytest.mark.parametrize(
    ("prompt", "text"),
    [
        (
            "portrait, (masterpiece:1.2), best quality, (ultra-detailed:1.3), [blurry], 8k",
            "portrait,masterpiece,bestquality,ultra-detailed,blurry,8k",
        ),
        ("a cat.swap (dog:1.2)", "acat.swapdog"),
        ("withLora (style:1.1)", "withLorastyle"),
        ("hello... (world...:1.5) -- end =)", "hello...world...--end=)"),
    ],
)
def test_real_world_prompts_keep_every_character(prompt, text):
    fragments = [fragment for part in compel_fragments(prompt) for fragment, _ in part]
    assert re.sub(r"\s", "", "".join(fragments)).replace("\\", "") == text

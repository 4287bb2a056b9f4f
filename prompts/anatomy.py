"""Prompt anatomy: a prompt as a list of phrases, each with a weight and a role, and back.

A "phrase" is what people separate with commas. A1111 attention (``(word:1.3)``, ``((word))``,
``[word]``, ``BREAK``) is read by `prompts.attention.parse_attention`, the one parser of that
syntax in Atelier; this module adds what the attention parser leaves as text:

- ``<lora:name:0.8>`` / ``<lyco:...>`` / ``<hypernet:...>`` tags and ``embedding:name``,
- prompt editing ``[from:to:when]`` (and ``[to:when]``, ``[from::when]``, ``[a|b]``),
- composable diffusion ``AND`` between sub-prompts,
- Midjourney-style parameters at the end (``--ar 3:2 --no text, watermark``), which become
  `ParsedPrompt.params`; ``--no`` is a negative prompt.

Atomic pieces (tags, editing) are swapped for private-use placeholder characters before the
attention parser runs, so brackets around them still weigh their neighbours, and swapped back
afterwards. `prompt_render` writes a prompt back: parsing its output gives the same phrases,
weights and roles (the benchmark checks that on 1,000 real prompts), though not always the same
characters (``((cat))`` comes back as ``(cat:1.21)``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from prompts.attention import BREAK, is_break, parse_attention
from prompts.roles import EMBEDDING, LORA, normalize_phrase, phrase_role, roles_in_context

__all__ = [
    "ParsedPrompt",
    "Phrase",
    "phrase_render",
    "prompt_anatomy",
    "prompt_parse",
    "prompt_render",
    "prompt_token_count",
]

KIND_TEXT = "text"
KIND_LORA = "lora"
KIND_EMBEDDING = "embedding"
KIND_EDIT = "edit"  # [from:to:when], [a|b]
KIND_BREAK = "break"
KIND_AND = "and"

# Weights are compared with this tolerance: ((a)) is 1.2100000000000002, rendered as 1.21.
WEIGHT_TOLERANCE = 1e-3

_EXTRA_NETWORK = re.compile(r"<(lora|lyco|hypernet|embedding|ti):([^<>:]+)(?::([^<>]*))?>", re.I)
_EMBEDDING_WORD = re.compile(r"(?<![\w.-])embedding:([\w.-]+)")
# Text of an editing bracket: no brackets, colons or bars, and no placeholder (a LoRA tag
# inside "[...:0.5]" keeps the bracket A1111 attention).
_EDIT_TEXT = "[^\\[\\]():|\U000f0000-\U000fffff]"
_EDIT_WHEN = r"\s*([+-]?\d*\.?\d+)\s*\]"
_EDIT = re.compile(
    rf"\[({_EDIT_TEXT}*):({_EDIT_TEXT}*):{_EDIT_WHEN}|\[({_EDIT_TEXT}*):{_EDIT_WHEN}"
)
_ALTERNATE = re.compile(rf"\[({_EDIT_TEXT}+(?:\|{_EDIT_TEXT}*)+)\]")
_AND = re.compile(r"\s+\bAND\b\s+")
# Midjourney parameters: from the first " --word" (a letter right after the dashes) to the end.
_MJ_START = re.compile(r"(?:^|[\s,])--[a-zA-Z]")
_MJ_PARAM = re.compile(r"--([a-zA-Z][\w-]*)((?:(?!\s--[a-zA-Z]).)*)", re.S)
# Private-use characters stand for atomic pieces while the attention parser runs.
_PLACEHOLDER_BASE = 0xF0000
_PLACEHOLDER = re.compile("[\U000f0000-\U000fffff]")
_ESCAPE = re.compile(r"([()\[\]\\])")


@dataclass(frozen=True)
class Phrase:
    """One comma-separated piece of a prompt.

    ``parts`` keeps the weights inside a phrase ("a (red:1.3) cat" is one phrase of three
    parts); ``weight`` is the weight of its longest part, which is what a person would say
    the phrase weighs. ``raw`` is the original syntax of an atomic piece (a LoRA tag, an
    editing bracket), rendered as is. ``joiner`` is what attaches it to the previous phrase:
    ", " after a comma, " " or "" when an atomic piece sat inside a phrase.
    """

    text: str
    weight: float = 1.0
    role: str = "subject"
    kind: str = KIND_TEXT
    parts: tuple[tuple[str, float], ...] = ()
    raw: str = ""
    joiner: str = ", "
    source: int | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        """The normalised text: what near-duplicate and diff comparisons use."""
        return normalize_phrase(self.text)

    def as_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "weight": round(self.weight, 4),
            "role": self.role,
            "kind": self.kind,
        }


@dataclass
class ParsedPrompt:
    """A parsed prompt: its phrases, plus Midjourney parameters and their ``--no`` negatives."""

    phrases: list[Phrase]
    params: list[tuple[str, str]] = field(default_factory=list)

    @property
    def negative(self) -> list[str]:
        """The phrases of every ``--no`` parameter (Midjourney's negative prompt)."""
        out: list[str] = []
        for name, value in self.params:
            if name.lower() == "no":
                out.extend(part.strip() for part in value.split(",") if part.strip())
        return out


def prompt_parse(text: str) -> ParsedPrompt:
    """Split a prompt into phrases with weights and roles. Never raises on any input.

    Characters of Unicode plane 15 (private use, which no prompt needs) become U+FFFD: this
    parser uses them as placeholders.
    """
    body, params = _split_params(_PLACEHOLDER.sub("\ufffd", text))
    phrases: list[Phrase] = []
    for sub_prompt in _AND.split(body):
        segment = _parse_segment(sub_prompt)
        if segment and phrases:  # an AND with nothing on one side joins nothing
            phrases.append(Phrase(text="AND", kind=KIND_AND, role=KIND_AND, joiner=" "))
        phrases.extend(segment)
    texts = [p.text for p in phrases]
    roles = roles_in_context(texts, [p.role for p in phrases])
    phrases = [
        p if p.role == r else replace(p, role=r) for p, r in zip(phrases, roles, strict=True)
    ]
    return ParsedPrompt(phrases=phrases, params=params)


def _split_params(text: str) -> tuple[str, list[tuple[str, str]]]:
    match = next(
        (m for m in _MJ_START.finditer(text) if _bracket_depth(text, m.start()) == 0), None
    )
    if match is None:
        return text, []
    start = match.start() if text[match.start()] == "-" else match.start() + 1
    if text[:start].rstrip().endswith(","):
        start = len(text[:start].rstrip()) - 1  # the comma before the parameters is theirs
    params = [(m.group(1), m.group(2).strip()) for m in _MJ_PARAM.finditer(text, start)]
    return text[:start], params


def _bracket_depth(text: str, end: int) -> int:
    """How many ( or [ are open at ``end`` (backslash escapes respected)."""
    depth = 0
    position = 0
    while position < end:
        char = text[position]
        if char == "\\":
            position += 2
            continue
        if char in "([":
            depth += 1
        elif char in ")]" and depth:
            depth -= 1
        position += 1
    return depth


def _parse_segment(text: str) -> list[Phrase]:
    atoms: list[Phrase] = []

    def stash(phrase: Phrase) -> str:
        atoms.append(phrase)
        return chr(_PLACEHOLDER_BASE + len(atoms) - 1)

    text = _EXTRA_NETWORK.sub(lambda m: stash(_network_phrase(m)), text)
    text = _EMBEDDING_WORD.sub(
        lambda m: stash(
            Phrase(text=m.group(1), role=EMBEDDING, kind=KIND_EMBEDDING, raw=m.group())
        ),
        text,
    )
    text = _EDIT.sub(lambda m: stash(_edit_phrase(m)), text)
    text = _ALTERNATE.sub(lambda m: stash(_alternate_phrase(m)), text)

    phrases: list[Phrase] = []
    parts: list[tuple[str, float]] = []
    joiner = ", "

    def close() -> None:
        nonlocal parts, joiner
        phrase = _text_phrase(parts, joiner)
        if phrase is not None:
            phrases.append(phrase)
            joiner = ", "
        parts = []

    for chunk in parse_attention(text):
        if is_break(chunk):
            close()
            # A comma before BREAK is a token of the chunk before it: keep it.
            phrases.append(Phrase(text=BREAK, role=KIND_BREAK, kind=KIND_BREAK, joiner=joiner))
            joiner = " "
            continue
        chunk_text, weight = chunk
        for piece_index, piece in enumerate(chunk_text.split(",")):
            if piece_index > 0:
                close()
                joiner = ", "
            atoms_here = _PLACEHOLDER.findall(piece)
            for atom_index, segment in enumerate(_PLACEHOLDER.split(piece)):
                if atom_index > 0:
                    atom = atoms[ord(atoms_here[atom_index - 1]) - _PLACEHOLDER_BASE]
                    has_text = any(t.strip() for t, _ in parts)
                    glued = has_text and not parts[-1][0][-1:].isspace()
                    close()
                    # Keep the spacing around a tag: "<lora:a:1>--ar" must not become a
                    # Midjourney parameter, nor "cat<lora:a:1>" a phrase of its own.
                    atom_joiner = ("" if glued else " ") if has_text else joiner
                    phrases.append(replace(atom, joiner=atom_joiner))
                    joiner = " " if segment[:1].isspace() else ""
                if segment:
                    parts.append((segment, weight))
    close()
    return phrases


def _text_phrase(parts: list[tuple[str, float]], joiner: str) -> Phrase | None:
    kept = list(parts)
    while kept and not kept[0][0].strip():
        kept.pop(0)
    while kept and not kept[-1][0].strip():
        kept.pop()
    if not kept:
        return None
    # The phrase's outer whitespace belongs to the separator; inner whitespace is kept.
    kept[0] = (kept[0][0].lstrip(), kept[0][1])
    kept[-1] = (kept[-1][0].rstrip(), kept[-1][1])
    text = "".join(t for t, _ in kept)
    # The weight that covers most of the phrase's visible characters (ties: the stronger one).
    share: dict[float, int] = {}
    for part_text, part_weight in kept:
        key = round(part_weight, 4)
        share[key] = share.get(key, 0) + len("".join(part_text.split()))
    weight = max(share, key=lambda w: (share[w], abs(w - 1.0), w))
    weight = next(w for t, w in kept if round(w, 4) == weight)
    return Phrase(
        text=text, weight=weight, role=phrase_role(text), parts=tuple(kept), joiner=joiner
    )


def _network_phrase(match: re.Match[str]) -> Phrase:
    kind_name = match.group(1).lower()
    weight = _number(match.group(3)) if match.group(3) else 1.0
    is_embedding = kind_name in ("embedding", "ti")
    return Phrase(
        text=match.group(2),
        weight=weight if weight is not None else 1.0,
        role=EMBEDDING if is_embedding else LORA,
        kind=KIND_EMBEDDING if is_embedding else KIND_LORA,
        raw=match.group(),
    )


def _edit_phrase(match: re.Match[str]) -> Phrase:
    if match.group(1) is not None:
        shown = " ".join(part.strip() for part in (match.group(1), match.group(2)) if part.strip())
    else:
        shown = match.group(4).strip()
    return Phrase(text=shown, role=phrase_role(shown), kind=KIND_EDIT, raw=match.group())


def _alternate_phrase(match: re.Match[str]) -> Phrase:
    shown = " ".join(part.strip() for part in match.group(1).split("|") if part.strip())
    return Phrase(text=shown, role=phrase_role(shown), kind=KIND_EDIT, raw=match.group())


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


# --- Rendering -------------------------------------------------------------------------------


def _format_weight(weight: float) -> str:
    return f"{weight:.4f}".rstrip("0").rstrip(".")


def _weighted(text: str, weight: float) -> str:
    escaped = _ESCAPE.sub(r"\\\1", text)
    if abs(weight - 1.0) < 1e-9 and not _MJ_START.search(escaped):
        return escaped
    # Text that would read as a Midjourney parameter ("--ar") gets an explicit weight of 1:
    # parameters start only outside brackets.
    core = escaped.strip()
    lead = escaped[: len(escaped) - len(escaped.lstrip())]
    trail = escaped[len(escaped.rstrip()) :]
    return f"{lead}({core}:{_format_weight(weight)}){trail}" if core else escaped


def phrase_render(phrase: Phrase, *, weight: float | None = None) -> str:
    """One phrase in A1111 syntax; ``weight`` replaces its weight (all parts scaled alike)."""
    if phrase.raw:
        if weight is not None and phrase.kind == KIND_LORA:
            name = phrase.raw[1:-1].split(":")
            return f"<{name[0]}:{name[1]}:{_format_weight(weight)}>"
        return phrase.raw
    if phrase.kind in (KIND_BREAK, KIND_AND):
        return phrase.text
    parts = phrase.parts or ((phrase.text, phrase.weight),)
    factor = 1.0 if weight is None or phrase.weight == 0 else weight / phrase.weight
    if weight is not None and phrase.weight == 0:
        parts = ((phrase.text, weight),)
    return "".join(_weighted(text, part_weight * factor) for text, part_weight in parts)


def prompt_render(parsed: ParsedPrompt | list[Phrase]) -> str:
    """Write phrases (and Midjourney parameters) back as one A1111 prompt string."""
    phrases = parsed.phrases if isinstance(parsed, ParsedPrompt) else parsed
    out = ""
    previous: Phrase | None = None
    for phrase in phrases:
        piece = phrase_render(phrase)
        if previous is None:
            out = piece
        elif phrase.kind == KIND_BREAK and previous.kind not in (KIND_AND, KIND_BREAK):
            out = f"{out}{phrase.joiner.rstrip()} {piece}"
        elif previous.kind == KIND_BREAK or KIND_AND in (phrase.kind, previous.kind):
            out = f"{out} {piece}"
        elif not phrase.joiner and _glue_changes_meaning(out, piece):
            out += " " + piece
        else:
            out += phrase.joiner + piece
        previous = phrase
    if isinstance(parsed, ParsedPrompt) and parsed.params:
        params = " ".join(f"--{name} {value}".rstrip() for name, value in parsed.params)
        out = f"{out} {params}" if out else params
    return out


def _glue_changes_meaning(out: str, piece: str) -> bool:
    """Whether writing ``piece`` right after ``out`` would merge it into an ``embedding:name``
    (the name runs on through word characters) or split one."""
    joined = out[-80:] + piece[:80]
    alone = len(_EMBEDDING_WORD.findall(out[-80:])) + len(_EMBEDDING_WORD.findall(piece[:80]))
    return len(_EMBEDDING_WORD.findall(joined)) != alone or bool(
        _EMBEDDING_WORD.search(out[-80:]) and re.match(r"[\w.-]", piece)
    )


# --- Tokens ----------------------------------------------------------------------------------

#: CLIP encodes 75 tokens per chunk (77 with the start and end markers).
CLIP_CHUNK_TOKENS = 75
_CLIP_PRETOKEN = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|[^\s\w]+|_+", re.I)
# CLIP's BPE vocabulary (49,408 entries) holds most English words whole ("painting",
# "illustration"); longer words split into pieces of about 7 letters ("photore|alistic").
_WHOLE_WORD_LETTERS = 12
_LETTERS_PER_PIECE = 7


def prompt_token_count(text: str) -> int:
    """An estimate of the CLIP tokens of a prompt's text (weights, LoRA tags and parameters
    excluded, as A1111 excludes them), without loading a tokenizer.

    Counts CLIP's pre-tokens (letter runs, single digits, punctuation runs), with words longer
    than 12 letters counted as several pieces. On real prompts it is within a few tokens of the
    real count: good enough to say which 75-token chunk a phrase falls in, which is what the
    image page shows. (The real tokenizer is in the generation pipeline, not loaded by the web.)
    """
    counted = phrases_with_chunks(prompt_parse(text).phrases)
    # Each phrase was counted with the comma after it; the last one has none.
    return max(0, sum(tokens for _, tokens, _ in counted) - 1)


def _pretoken_count(text: str) -> int:
    count = 0
    for match in _CLIP_PRETOKEN.finditer(text):
        token = match.group()
        long_word = token.isalpha() and len(token) > _WHOLE_WORD_LETTERS
        count += -(-len(token) // _LETTERS_PER_PIECE) if long_word else 1
    return count


def phrases_with_chunks(phrases: list[Phrase]) -> list[tuple[Phrase, int, int]]:
    """Each phrase with its estimated token count and the 75-token chunk it starts in.

    A ``BREAK`` starts a new chunk, as in A1111.
    """
    out: list[tuple[Phrase, int, int]] = []
    used = 0
    chunk = 0
    for phrase in phrases:
        if phrase.kind == KIND_BREAK:
            chunk, used = chunk + 1, 0
            out.append((phrase, 0, chunk))
            continue
        tokens = _pretoken_count(phrase.text) + 1 if phrase.kind in (KIND_TEXT, KIND_EDIT) else 0
        if used + tokens > CLIP_CHUNK_TOKENS and used:
            chunk, used = chunk + 1, 0
        out.append((phrase, tokens, chunk))
        used += tokens
    return out


def prompt_anatomy(text: str) -> dict[str, Any]:
    """A prompt's phrases with weights, roles, tokens and chunks: the parse API's body, and
    what the image page highlights."""
    parsed = prompt_parse(text)
    counted = phrases_with_chunks(parsed.phrases)
    return {
        "phrases": [
            {**phrase.as_dict(), "tokens": tokens, "chunk": chunk}
            for phrase, tokens, chunk in counted
        ],
        "params": [list(pair) for pair in parsed.params],
        "negative": parsed.negative,
        "tokens": max(0, sum(tokens for _, tokens, _ in counted) - 1),
        "chunks": (counted[-1][2] + 1) if counted else 1,
    }


def prompt_style_part(text: str) -> str:
    """The style side of a prompt: its style, lighting, camera and quality phrases, in order.

    What "Explore this style" should compare (`prompts.embeddings.prompt_style_text` can call
    this); a prompt with no such phrase is all subject, and the whole text is returned.
    """
    phrases = [
        p.text
        for p in prompt_parse(text).phrases
        if p.kind in (KIND_TEXT, KIND_EDIT) and p.role in _STYLE_SIDE
    ]
    return ", ".join(phrases) if phrases else text


_STYLE_SIDE = frozenset({"style", "lighting", "camera", "quality"})

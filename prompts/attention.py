"""AUTOMATIC1111 prompt-attention syntax: parsing it, and translating it into compel's syntax.

Most prompts people paste into Atelier come from AUTOMATIC1111's web UI (or tools that copy its
syntax), so that is the syntax users type. Our pipeline encodes prompts with compel, which has a
different, stricter grammar; `to_compel` bridges the two so a prompt means the same thing in both
places and no user text can make compel's parser fail.

The A1111 rules implemented by `parse_attention`:

- ``(text)`` multiplies the weight of ``text`` by 1.1, ``[text]`` divides it by 1.1; brackets nest,
  so ``((text))`` is 1.21.
- ``(text:1.3)`` multiplies it by 1.3 instead (a ``:number`` that closes a round bracket).
- ``\\(`` ``\\)`` ``\\[`` ``\\]`` and ``\\\\`` are literal characters.
- An unclosed ``(`` or ``[`` applies its multiplier to everything after it; a closing bracket
  with nothing open, or a ``:`` that is not a weight, is plain text.
- ``BREAK`` (upper case, as a whole word) ends the current 75-token chunk; it comes back as its
  own chunk ``("BREAK", -1.0)``, which no real weight can be.

Deliberate differences from A1111 (it has no specification, only an implementation):

- A lone backslash not followed by a bracket or backslash stays in the text (A1111 drops it),
  because Atelier never silently edits what a user typed.
- A malformed weight such as ``(a:1.2.3)`` is plain text (A1111 raises an error).
- ``BREAK`` inside brackets keeps the weight -1 (A1111 multiplies its marker too, by accident).
"""

from __future__ import annotations

import re

__all__ = [
    "BREAK",
    "BREAK_WEIGHT",
    "is_break",
    "parse_attention",
    "to_compel",
    "to_compel_parts",
]

BREAK = "BREAK"
#: The weight of a ``BREAK`` chunk. Negative, so it can never be mistaken for a real weight.
BREAK_WEIGHT = -1.0

_ROUND_MULTIPLIER = 1.1
_SQUARE_MULTIPLIER = 1 / 1.1

# The ``:1.3)`` that ends an explicitly weighted round bracket. Same shape A1111 accepts.
_WEIGHT = re.compile(r":\s*([+-]?[.\d]+)\s*\)")
# BREAK as a whole word, eating the whitespace around it.
_BREAK = re.compile(r"\s*\bBREAK\b\s*")
_LITERAL_AFTER_BACKSLASH = "()[]\\"


def parse_attention(text: str) -> list[tuple[str, float]]:
    """Split an A1111 prompt into ``(text, weight)`` chunks.

    Adjacent chunks with the same weight are merged, empty chunks are dropped, and ``BREAK``
    chunks are never merged (two BREAKs in a row are two chunk ends). An empty prompt gives
    ``[("", 1.0)]`` so callers always get at least one chunk.

    >>> parse_attention("a (red:1.3) [cat]")
    [('a ', 1.0), ('red', 1.3), (' ', 1.0), ('cat', 0.9090909090909091)]
    """
    # Each chunk is a mutable [text, weight] while brackets are still open: closing a bracket
    # multiplies the weight of every chunk produced since it was opened.
    chunks: list[list] = []
    open_round: list[int] = []
    open_square: list[int] = []
    plain: list[str] = []

    def flush_plain() -> None:
        if not plain:
            return
        for index, part in enumerate(_BREAK.split("".join(plain))):
            if index > 0:
                chunks.append([BREAK, BREAK_WEIGHT])
            if part:
                chunks.append([part, 1.0])
        plain.clear()

    def multiply_since(start: int, factor: float) -> None:
        for chunk in chunks[start:]:
            if not is_break((chunk[0], chunk[1])):
                chunk[1] *= factor

    position = 0
    while position < len(text):
        char = text[position]
        if (
            char == "\\"
            and position + 1 < len(text)
            and text[position + 1] in _LITERAL_AFTER_BACKSLASH
        ):
            plain.append(text[position + 1])
            position += 2
            continue
        if char == "(":
            flush_plain()
            open_round.append(len(chunks))
        elif char == "[":
            flush_plain()
            open_square.append(len(chunks))
        elif char == ")" and open_round:
            flush_plain()
            multiply_since(open_round.pop(), _ROUND_MULTIPLIER)
        elif char == "]" and open_square:
            flush_plain()
            multiply_since(open_square.pop(), _SQUARE_MULTIPLIER)
        elif char == ":" and open_round and (weight := _explicit_weight(text, position)):
            flush_plain()
            multiply_since(open_round.pop(), weight[0])
            position = weight[1]
            continue
        else:
            plain.append(char)
        position += 1
    flush_plain()

    # Unclosed brackets weigh everything after them, as in A1111.
    for start in open_round:
        multiply_since(start, _ROUND_MULTIPLIER)
    for start in open_square:
        multiply_since(start, _SQUARE_MULTIPLIER)

    merged: list[tuple[str, float]] = []
    for chunk_text, weight in chunks:
        chunk = (chunk_text, weight)
        if merged and not is_break(chunk) and not is_break(merged[-1]) and merged[-1][1] == weight:
            merged[-1] = (merged[-1][0] + chunk_text, weight)
        else:
            merged.append(chunk)
    return merged or [("", 1.0)]


def is_break(chunk: tuple[str, float]) -> bool:
    """Whether a chunk from `parse_attention` is a BREAK marker rather than text.

    Check both fields: ``(x:-1)`` is legal A1111 and gives a text chunk of weight -1 too.
    """
    return chunk[0] == BREAK and chunk[1] == BREAK_WEIGHT


def _explicit_weight(text: str, position: int) -> tuple[float, int] | None:
    """Read ``:1.3)`` at ``position``: the weight and where parsing resumes, or None."""
    match = _WEIGHT.match(text, position)
    if match is None:
        return None
    try:
        return float(match.group(1)), match.end()
    except ValueError:  # "1.2.3" or "." match the character class but are not numbers
        return None


# --- compel ------------------------------------------------------------------------------------
#
# compel's grammar (compel/prompt_parser.py) reads these characters as syntax:  ( ) " , . + - =
# Backslash-escaping works cleanly only for ( ) and ", which compel unescapes again; for the others
# the backslash would reach the tokenizer. So instead of escaping those we rely on a property of
# CLIP's tokenizer: it splits text into letter runs, single digits and punctuation runs before BPE,
# and whitespace between two of those pieces changes nothing. We may therefore move whitespace
# around and tokenize a punctuation run apart from its neighbours without changing the token ids.

_COMPEL_SYNTAX = frozenset('()",.+-=')
# A CLIP pre-token made of punctuation (anything that is not a letter, digit or whitespace).
_PUNCTUATION_RUN = re.compile(r"(?:[^\w\s]|_)+")
# Operators that take a parenthesised argument, which our "(text)1.3" groups must not become.
_OPERATOR_BEFORE_GROUP = re.compile(r"\.(?:swap|attend)\s*$")
_LORA_BEFORE_GROUP = re.compile(r"(?:withLora|useLora)\s*$")


def to_compel(text: str) -> str:
    """Translate an A1111 prompt into a compel prompt string with the same tokens and weights.

    Weighted chunks become ``(text)1.3``; unweighted text stays plain. ``BREAK`` becomes a compel
    ``("part one", "part two").and()`` conjunction, which encodes each part on its own and
    concatenates the embeddings: what BREAK does in A1111. (compel parses those quoted parts more
    strictly and splits punctuation runs such as ``...`` in them, so the pipeline encodes the
    parts from `to_compel_parts` one by one instead.)

    Whatever the input, compel can parse the result, and it tokenizes to the same CLIP tokens
    with the same weights, except in these rare cases:

    - A negative weight becomes 0 (compel accepts weights from 0 up; 0 removes the text).
    - Inside a weighted chunk, a punctuation run compel cannot read inside parentheses (one with
      ``=``, with more than one of ``, . + -``, or with a ``+``/``-`` that ends a word, but not
      ``close-up``) keeps its tokens but gets weight 1.
    - compel reads ``word+`` / ``word-`` as up/down-weighting, so a space goes before such a
      ``+``/``-``; after punctuation (``wow!-``) that splits one token in two. compel also puts a
      space after every comma, which splits runs such as ``,,``.
    - A backslash goes before ``.swap``/``.attend`` right before a weighted chunk, so compel
      does not read them as operators, and reaches the tokenizer.
    - A literal backslash right before a bracket or quote can be lost: compel unescapes text
      again when it merges neighbouring pieces of equal weight.
    - ``[from:to:when]`` scheduling and ``<lora:...>`` tags pass through as plain text.
    """
    parts = to_compel_parts(text)
    if len(parts) == 1:
        return parts[0]
    return "(" + ", ".join(f'"{part}"' for part in parts) + ").and()"


def to_compel_parts(text: str) -> list[str]:
    """`to_compel` for each BREAK-separated part of the prompt; always at least one string.

    Encoding each part with compel and concatenating the embeddings along the token axis is
    what A1111 does for BREAK: every part starts a new 77-token window.
    """
    parts: list[list[tuple[str, float]]] = [[]]
    for chunk in parse_attention(text):
        if is_break(chunk):
            parts.append([])
        else:
            parts[-1].append(chunk)
    rendered = [_compel_part(chunks) for chunks in parts]
    return [part for part in rendered if part.strip()] or [""]


def _compel_part(chunks: list[tuple[str, float]]) -> str:
    """One BREAK-free part of a prompt in compel syntax.

    Pieces are joined by spaces: that keeps compel from gluing a weight to the next word
    (``(a)1.3 5``) or a word to the next group, and costs nothing, since compel tokenizes each
    piece on its own anyway.
    """
    out = ""
    for chunk_text, weight in chunks:
        # Newlines would end a quoted BREAK part; to CLIP every whitespace is the same.
        chunk_text = re.sub(r"\s", " ", chunk_text)
        if weight == 1.0 or not chunk_text.strip():
            out = _append(out, _compel_plain(chunk_text))
            continue
        last = 0
        for match in _PUNCTUATION_RUN.finditer(chunk_text):
            if not _readable_in_parentheses(match.group(), chunk_text[match.end() :][:1]):
                out = _append_group(out, chunk_text[last : match.start()], max(weight, 0.0))
                out = _append(out, _compel_plain(match.group()))
                last = match.end()
        out = _append_group(out, chunk_text[last:], max(weight, 0.0))
    return out


def _append(out: str, piece: str) -> str:
    if not piece:
        return out
    return f"{out} {piece}" if out else piece


def _append_group(out: str, text: str, weight: float) -> str:
    """Append ``(text)weight`` without letting a preceding word turn it into an operator call."""
    if not text.strip():
        return _append(out, _compel_plain(text))
    if match := _OPERATOR_BEFORE_GROUP.search(out):
        out = out[: match.start()] + "\\" + out[match.start() :]
    if _LORA_BEFORE_GROUP.search(out):
        out += " ()"  # an empty group: compel reads it as nothing, and as no LoRA name
    return _append(out, f"({_escape_brackets_and_quotes(text)}){_format_weight(weight)}")


def _compel_plain(text: str) -> str:
    """Unweighted text, which compel reads literally unless a word ends in ``+`` or ``-``."""
    text = _escape_brackets_and_quotes(text)
    position = 0
    while position < len(text):
        if text[position].isspace() or text[position] == ",":
            position += 1
            continue
        # A whitespace-delimited word (compel adds a space after every comma): compel reads its
        # syntax-free prefix followed by + or - as a weighted word. Split it there, until it isn't.
        end = _syntax_free_prefix_end(text, position)
        if position < end < len(text) and text[end] in "+-":
            text = f"{text[:end]} {text[end:]}"
            position = end + 1
            continue
        while position < len(text) and not (text[position].isspace() or text[position] == ","):
            position += 1
    return text


def _syntax_free_prefix_end(text: str, start: int) -> int:
    """Where compel's ``non_syntax_word`` that starts at ``start`` ends."""
    position = start
    while position < len(text):
        char = text[position]
        following = text[position + 1 : position + 2]
        if char == "\\" and following and following in _COMPEL_SYNTAX:
            position += 2  # an escaped syntax character belongs to the word
        elif char in "+-":
            # "+" / "-" join the word only when a non-space, non-syntax character follows.
            if not following or following.isspace() or following in _COMPEL_SYNTAX:
                break
            position += 1
        elif char.isspace() or char in _COMPEL_SYNTAX:
            break
        else:
            position += 1
    return position


def _readable_in_parentheses(run: str, next_char: str) -> bool:
    """Whether compel reads this punctuation run inside ``( )`` as one piece of the same text."""
    syntax = [char for char in run if char in ",.+-="]
    if not syntax or run in (",", "."):
        return True  # plain punctuation, or brackets and quotes, which we escape
    if len(syntax) > 1 or syntax[0] in ",.=":
        return False  # "..." and "!." would be split into fragments, "=" is a parse error
    # A single + or - joins the word only when a non-space, non-syntax character follows it.
    if run[-1] != syntax[0]:
        return True
    return bool(next_char) and not next_char.isspace()


def _escape_brackets_and_quotes(text: str) -> str:
    escaped = text.replace("(", "\\(").replace(")", "\\)").replace('"', '\\"')
    # A trailing backslash would escape the closing bracket or quote we put after the text.
    return escaped + " " if escaped.endswith("\\") else escaped


def _format_weight(weight: float) -> str:
    """A plain decimal (no exponent, which compel cannot read), at most 6 decimals."""
    return f"{weight:.6f}".rstrip("0").rstrip(".") or "0"

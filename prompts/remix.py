"""Combining prompts: merge, subject of one + style of another, weighted, blend; phrase diffs.

Works on text only (`SourcePrompt`): the gallery resolves image ids into prompts and records
lineage. Every phrase of a result remembers which source it came from.

Near-duplicates ("highly detailed" / "high detail", "by greg rutkowski" / "greg rutkowski")
are found in two steps, because MiniLM alone cannot tell them from merely related phrases:
cosine("highly detailed", "high detail") is 0.66, exactly as for "digital painting" / "oil
painting", which are not duplicates. So:

1. a lexical key: the phrase normalised, credit words ("by", "art by", "in the style of")
   dropped, each word crudely stemmed ("highly" -> "high", "detailed" -> "detail"); equal keys
   are duplicates, and for modifiers (not subjects) a key whose words are a subset of
   another's is too ("artstation" / "trending on artstation");
2. the MiniLM cosine of modifiers of the same role from different sources, >=
   `SEMANTIC_DUPLICATE` (0.85: "volumetric lighting" / "volumetric light" is 0.91, "8k" / "4k"
   0.80 and both stay).

Of two duplicates the one with the stronger weight stays (the first on a tie).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace

import numpy as np

from prompts.anatomy import (
    KIND_AND,
    KIND_BREAK,
    KIND_LORA,
    Phrase,
    phrase_render,
    phrases_with_chunks,
    prompt_parse,
)
from prompts.roles import ROLE_ORDER, STYLE, SUBJECT, normalize_phrase

STRATEGIES = ("merge", "subject_style", "weighted", "blend")
SEMANTIC_DUPLICATE = 0.85
DEFAULT_TOKEN_BUDGET = 75
MAX_SOURCES = 5
#: Per-source weights of the "weighted" strategy are multipliers within this range.
MAX_SOURCE_WEIGHT = 2.0

_CREDIT = re.compile(
    r"^(?:(?:an?|the)\s+)?(?:(?:art(?:work)?|painted|drawn|illustrated|made|created|inspired)\s+)?"
    r"(?:by|(?:in\s+)?(?:the\s+)?style\s+of)\s+"
)
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset({"a", "an", "the", "of", "and", "with", "on", "in", "very"})
_SUFFIXES = ("ally", "ly", "ing", "ed", "es", "s")


class CombineError(ValueError):
    """A combine request that cannot be carried out (the message says why, for a 400)."""


@dataclass(frozen=True)
class SourcePrompt:
    """One input of a combine: its text and a label (an image id, or the position)."""

    prompt: str
    negative_prompt: str = ""
    label: int | str = 0


@dataclass(frozen=True)
class BlendPart:
    """One source of a blend: its prompt and its share of the mix (the shares sum to 1)."""

    prompt: str
    weight: float
    source: int


@dataclass
class CombineResult:
    """The combined prompt, its phrases with their sources, and what the budget left out.

    ``blend`` is set by the blend strategy only: what the worker mixes (`BlendPart` s). Then
    ``prompt`` is the text stand-in recorded with the images (the merge of the sources), not
    what conditions the model.
    """

    prompt: str
    negative_prompt: str
    phrases: list[Phrase]
    negative_phrases: list[Phrase]
    tokens: int
    dropped: list[Phrase] = field(default_factory=list)
    blend: list[BlendPart] = field(default_factory=list)


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def phrase_duplicate_key(text: str) -> tuple[str, ...]:
    """The lexical identity of a phrase: credit words dropped, stop words dropped, stemmed."""
    norm = _CREDIT.sub("", normalize_phrase(text))
    return tuple(_stem(word) for word in _WORD.findall(norm) if word not in _STOP)


def _artist_names(phrase: Phrase) -> list[str] | None:
    """The names in an artist credit ("art by artgerm and greg rutkowski"), else None."""
    norm = normalize_phrase(phrase.text)
    if phrase.role != STYLE or not _CREDIT.match(norm):
        return None
    names = re.split(r"\s*(?:\band\b|&|;|/)\s*", _CREDIT.sub("", norm))
    return [name for name in names if name]


# --- Phrase vectors --------------------------------------------------------------------------

_vector_lock = threading.Lock()
_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
_VECTOR_CACHE_SIZE = 20_000


def phrase_vectors(texts: list[str]) -> np.ndarray:
    """Unit MiniLM vectors of short phrases, from a per-process cache: modifiers repeat."""
    from prompts.embeddings import texts_embed

    keys = [normalize_phrase(text) for text in texts]
    with _vector_lock:
        missing = sorted({key for key in keys if key not in _vectors})
    if missing:
        fresh = texts_embed(texts=missing)
        with _vector_lock:
            for key, vector in zip(missing, fresh, strict=True):
                _vectors[key] = vector
            while len(_vectors) > _VECTOR_CACHE_SIZE:
                _vectors.popitem(last=False)
    with _vector_lock:
        return np.stack([_vectors[key] for key in keys]) if keys else np.zeros((0, 384))


# --- Deduplication ---------------------------------------------------------------------------


def phrases_deduplicate(phrases: list[Phrase], *, semantic: bool = True) -> list[Phrase]:
    """Drop near-duplicates, keeping the stronger weight in the first one's place.

    Artist credits are compared name by name: "by greg rutkowski" after "art by artgerm and
    greg rutkowski" is dropped, and the names already credited are removed from a later
    credit that also names others.
    """
    kept: list[Phrase] = []
    keys: list[tuple[str, ...]] = []
    credited: set[tuple[str, ...]] = set()
    for phrase in phrases:
        if phrase.kind in (KIND_BREAK, KIND_AND):
            continue
        names = _artist_names(phrase)
        if names is not None:
            fresh = [name for name in names if phrase_duplicate_key(name) not in credited]
            if not fresh:
                continue
            if len(fresh) < len(names):
                phrase = replace(phrase, text="by " + " and ".join(fresh), parts=(), raw="")
        key = phrase_duplicate_key(phrase.text)
        if phrase.role == STYLE and len(key) <= 4 and key in credited:
            continue  # "greg rutkowski" after "by greg rutkowski"
        match = _lexical_match(phrase, key, kept, keys)
        if match is None:
            kept.append(phrase)
            keys.append(key)
            credited.update(phrase_duplicate_key(name) for name in names or [])
            if phrase.role == STYLE and len(key) <= 4:
                credited.add(key)
        elif phrase.weight > kept[match].weight:
            kept[match] = replace(phrase, joiner=kept[match].joiner)
    return _semantic_deduplicate(kept) if semantic else kept


def _lexical_match(
    phrase: Phrase, key: tuple[str, ...], kept: list[Phrase], keys: list[tuple[str, ...]]
) -> int | None:
    for index, (other, other_key) in enumerate(zip(kept, keys, strict=True)):
        if other.kind != phrase.kind:
            continue
        if phrase.kind != "text":
            if normalize_phrase(other.text) == normalize_phrase(phrase.text):
                return index
            continue
        if key == other_key and key:
            return index
        modifiers = phrase.role != SUBJECT and other.role == phrase.role and key and other_key
        if modifiers and (set(key) <= set(other_key) or set(other_key) <= set(key)):
            return index
    return None


def _semantic_deduplicate(phrases: list[Phrase]) -> list[Phrase]:
    """MiniLM near-duplicates among modifiers of the same role from different sources.

    Only pairs that share something on the surface (a stemmed word, or four letters in a row:
    "digital art" / "digital artwork", "ultra detailed" / "hyperdetailed") are embedded and
    compared: pairs that share nothing are far apart for MiniLM too ("hd" / "high definition"
    is 0.29), and each phrase not yet in the vector cache costs a model call on the request.
    Subjects are compared lexically only: they are nearly unique to their prompt. One prompt's
    own phrases are its author's choice and are never merged with each other.
    """
    pairs = [
        (a, b)
        for a in range(len(phrases))
        for b in range(a + 1, len(phrases))
        if _may_duplicate(phrases[a], phrases[b])
    ]
    if not pairs:
        return phrases
    involved = sorted({i for pair in pairs for i in pair})
    position = {index: row for row, index in enumerate(involved)}
    vectors = phrase_vectors([phrases[i].text for i in involved])
    drop: set[int] = set()
    for a, b in pairs:
        if a in drop or b in drop:
            continue
        if float(vectors[position[a]] @ vectors[position[b]]) >= SEMANTIC_DUPLICATE:
            if phrases[b].weight > phrases[a].weight:
                phrases[a] = replace(phrases[b], joiner=phrases[a].joiner)
            drop.add(b)
    return [p for i, p in enumerate(phrases) if i not in drop]


def _may_duplicate(a: Phrase, b: Phrase) -> bool:
    if a.kind != "text" or b.kind != "text" or a.role != b.role or a.role == SUBJECT:
        return False
    if a.source == b.source and a.source is not None:
        return False
    key_a, key_b = set(phrase_duplicate_key(a.text)), set(phrase_duplicate_key(b.text))
    if key_a & key_b:
        return True
    letters_a = a.key.replace(" ", "")
    letters_b = b.key.replace(" ", "")
    return any(letters_a[i : i + 4] in letters_b for i in range(len(letters_a) - 3))


# --- Strategies ------------------------------------------------------------------------------


def _tagged(source_index: int, source: SourcePrompt) -> tuple[list[Phrase], list[Phrase]]:
    parsed = prompt_parse(source.prompt)
    phrases = [
        replace(p, source=source_index, joiner=", ")
        for p in parsed.phrases
        if p.kind not in (KIND_BREAK, KIND_AND)
    ]
    negatives = [
        replace(p, source=source_index, joiner=", ")
        for p in prompt_parse(source.negative_prompt).phrases
        if p.kind not in (KIND_BREAK, KIND_AND)
    ]
    negatives += [
        Phrase(text=text, role=SUBJECT, source=source_index, parts=((text, 1.0),))
        for text in parsed.negative
    ]
    return phrases, negatives


def _by_role(phrases: list[Phrase]) -> list[Phrase]:
    """Subject first, then style, lighting, camera, quality, LoRAs; stable within a role."""
    return sorted(phrases, key=lambda p: ROLE_ORDER.get(p.role, len(ROLE_ORDER)))


def _reweighted(phrase: Phrase, weight: float) -> Phrase:
    """The phrase at a new weight (a LoRA tag carries it in its own syntax)."""
    if phrase.kind == KIND_LORA:
        return replace(phrase, weight=weight, raw=phrase_render(phrase, weight=weight))
    if phrase.raw:
        return phrase  # an editing bracket has no weight of its own
    return replace(phrase, weight=weight, parts=((phrase.text, weight),))


def prompt_combine(
    *,
    sources: list[SourcePrompt],
    strategy: str = "merge",
    weights: list[float] | None = None,
    token_budget: int = DEFAULT_TOKEN_BUDGET,
) -> CombineResult:
    """Combine 2-5 prompts into one, every phrase tagged with the index of its source.

    - ``merge``: every phrase of every source, near-duplicates removed, ordered by role;
    - ``subject_style``: the subject phrases of the first source with the style, lighting,
      camera, quality and LoRA phrases of the second (swap the sources for the reverse);
    - ``weighted``: like merge, each phrase's weight multiplied by its source's weight
      (0 leaves the source out; 1.3 turns "castle" into "(castle:1.3)");
    - ``blend``: no combined text at all: the worker encodes each source prompt and
      interpolates the text-encoder embeddings (slerp, `weights` as the shares, equal by
      default), Midjourney's /blend for prompts. The result lists the sources and their
      shares in ``blend``; its ``prompt`` is the merge of the sources, a readable stand-in
      stored with the images, and its negative prompt is merged as for every strategy.

    The result keeps within ``token_budget`` estimated CLIP tokens, dropping phrases from the
    end of the least important role first (quality, then camera, lighting, style) and the last
    subject phrases only when nothing else is left.
    """
    if strategy not in STRATEGIES:
        raise CombineError(f"Unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}.")
    if not 2 <= len(sources) <= MAX_SOURCES:
        raise CombineError(f"Combine takes 2 to {MAX_SOURCES} sources, not {len(sources)}.")
    if strategy == "subject_style" and len(sources) != 2:
        raise CombineError("subject_style takes exactly two sources: the subject, then the style.")
    if token_budget < 1:
        raise CombineError("token_budget must be at least 1.")
    if weights is not None and strategy not in ("weighted", "blend"):
        raise CombineError("weights are only used by the weighted and blend strategies.")
    if strategy in ("weighted", "blend"):
        weights = weights if weights is not None else [1.0] * len(sources)
        if len(weights) != len(sources):
            raise CombineError(f"Give one weight per source ({len(sources)}), not {len(weights)}.")
        if any(not 0 <= w <= MAX_SOURCE_WEIGHT for w in weights):
            raise CombineError(f"Source weights go from 0 to {MAX_SOURCE_WEIGHT}.")
        if not any(weights):
            raise CombineError("At least one source needs a weight above 0.")

    if strategy == "blend" and weights:
        for index, (source, share) in enumerate(zip(sources, weights, strict=True)):
            if share > 0 and not source.prompt.strip():
                raise CombineError(f"Source {index + 1} has no prompt to blend.")

    per_source = [_tagged(index, source) for index, source in enumerate(sources)]
    phrases: list[Phrase] = []
    negatives: list[Phrase] = []
    if strategy == "subject_style":
        (subject_phrases, subject_negs), (style_phrases, style_negs) = per_source
        phrases = [p for p in subject_phrases if p.role == SUBJECT]
        phrases += [p for p in style_phrases if p.role != SUBJECT]
        negatives = subject_negs + style_negs
    else:
        for index, (source_phrases, source_negatives) in enumerate(per_source):
            factor = weights[index] if weights else 1.0
            if factor == 0:
                continue
            if strategy == "weighted" and factor != 1.0:
                source_phrases = [_reweighted(p, p.weight * factor) for p in source_phrases]
            phrases += source_phrases
            negatives += source_negatives
    phrases = phrases_deduplicate(_by_role(phrases))
    negatives = phrases_deduplicate(negatives)
    phrases, dropped = _within_budget(phrases, token_budget)
    return CombineResult(
        prompt=_join(phrases),
        negative_prompt=_join(negatives),
        phrases=phrases,
        negative_phrases=negatives,
        tokens=_tokens(phrases),
        dropped=dropped,
        blend=_blend_parts(sources, weights) if strategy == "blend" and weights else [],
    )


def _blend_parts(sources: list[SourcePrompt], weights: list[float]) -> list[BlendPart]:
    """The sources of a blend with their shares; a source weighted 0 is left out."""
    total = sum(weights)
    return [
        BlendPart(prompt=source.prompt, weight=weight / total, source=index)
        for index, (source, weight) in enumerate(zip(sources, weights, strict=True))
        if weight > 0
    ]


def _join(phrases: list[Phrase]) -> str:
    return ", ".join(phrase_render(p) for p in phrases)


def _tokens(phrases: list[Phrase]) -> int:
    return max(0, sum(tokens for _, tokens, _ in phrases_with_chunks(phrases)) - 1)


def _within_budget(phrases: list[Phrase], budget: int) -> tuple[list[Phrase], list[Phrase]]:
    kept = list(phrases)
    costs = [tokens for _, tokens, _ in phrases_with_chunks(kept)]
    dropped: list[Phrase] = []
    while sum(costs) - 1 > budget:
        # The least important phrase that costs tokens (LoRA tags cost none): the highest role
        # order, the latest of its role; the first subject phrase always stays.
        costly = [i for i, tokens in enumerate(costs) if tokens]
        if len(costly) <= 1:
            break
        victim = max(
            costly[1:] if kept[costly[0]].role == SUBJECT else costly,
            key=lambda i: (kept[i].role != SUBJECT, ROLE_ORDER.get(kept[i].role, 9), i),
        )
        dropped.append(kept.pop(victim))
        costs.pop(victim)
    return kept, dropped


# --- Diffs -----------------------------------------------------------------------------------


@dataclass
class PhraseDiff:
    """How a prompt differs from a parent, phrase by phrase."""

    added: list[Phrase]
    removed: list[Phrase]
    reweighted: list[tuple[Phrase, Phrase]]  # (in the parent, in the child)
    kept: list[Phrase]


def prompt_diff(*, parent: str, child: str) -> PhraseDiff:
    """Phrases added, removed, reweighted and kept from ``parent`` to ``child``.

    Phrases are matched by their duplicate key, so "by greg rutkowski" in the parent and
    "greg rutkowski" in the child count as kept.
    """
    before = [p for p in prompt_parse(parent).phrases if p.kind not in (KIND_BREAK, KIND_AND)]
    after = [p for p in prompt_parse(child).phrases if p.kind not in (KIND_BREAK, KIND_AND)]
    before_by_key = {phrase_duplicate_key(p.text) or (p.key,): p for p in before}
    seen: set[tuple[str, ...]] = set()
    added: list[Phrase] = []
    reweighted: list[tuple[Phrase, Phrase]] = []
    kept: list[Phrase] = []
    for phrase in after:
        key = phrase_duplicate_key(phrase.text) or (phrase.key,)
        old = before_by_key.get(key)
        if old is None:
            added.append(phrase)
            continue
        seen.add(key)
        if abs(old.weight - phrase.weight) > 1e-3:
            reweighted.append((old, phrase))
        else:
            kept.append(phrase)
    removed = [p for key, p in before_by_key.items() if key not in seen]
    return PhraseDiff(added=added, removed=removed, reweighted=reweighted, kept=kept)

"""The prompt enhancer: modifiers for a plain idea, learned from the prompts nearest to it.

No language model: the gallery is the model. Given the prompts most similar to the idea (by
MiniLM cosine) and the likes their images got, every modifier phrase (style, lighting, camera,
quality) of those prompts scores::

    sum over the prompts that use it of  similarity x (1 + ln(1 + likes))

so a modifier counts for more when it comes from a prompt close to the idea, and from images
people liked. Near-duplicate spellings ("highly detailed", "high detail") pool their score
under the most common spelling. The three enhanced prompts are the idea plus the best
modifiers of each role: the top picks; the runners-up; and a style-heavy mix; near-duplicates
of a modifier already chosen are skipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from prompts.anatomy import Phrase, prompt_parse
from prompts.remix import phrase_duplicate_key, phrases_deduplicate
from prompts.roles import CAMERA, LIGHTING, QUALITY, STYLE, normalize_phrase

ENHANCE_ROLES = (STYLE, LIGHTING, CAMERA, QUALITY)
SUGGESTIONS_PER_ROLE = 8
EXAMPLES_PER_MODIFIER = 3
# How many modifiers of each role go into an enhanced prompt.
_RECIPE = {STYLE: 2, LIGHTING: 1, CAMERA: 1, QUALITY: 2}


@dataclass(frozen=True)
class Neighbour:
    """A gallery prompt near the idea: its text, cosine similarity, likes, example images."""

    text: str
    similarity: float
    likes: int = 0
    examples: tuple[int, ...] = ()


@dataclass
class Suggestion:
    """One modifier for the idea: its usual spelling, score, and images whose prompts use it."""

    text: str
    role: str
    score: float
    uses: int
    examples: list[int] = field(default_factory=list)


@dataclass
class Enhancement:
    suggestions: dict[str, list[Suggestion]]
    prompts: list[str]


def prompt_enhance(*, idea: str, neighbours: list[Neighbour]) -> Enhancement:
    """Suggestions by role and three enhanced prompts for ``idea`` (see the module docstring)."""
    idea_keys = {
        phrase_duplicate_key(p.text) for p in prompt_parse(idea).phrases if p.kind == "text"
    }
    pooled: dict[tuple[str, tuple[str, ...]], dict] = {}
    for neighbour in neighbours:
        weight = max(neighbour.similarity, 0.0) * (1.0 + math.log1p(max(neighbour.likes, 0)))
        seen: set[tuple[str, tuple[str, ...]]] = set()
        for phrase in prompt_parse(neighbour.text).phrases:
            if phrase.role not in ENHANCE_ROLES or phrase.kind != "text":
                continue
            key = phrase_duplicate_key(phrase.text)
            if not key or key in idea_keys or (phrase.role, key) in seen:
                continue
            seen.add((phrase.role, key))
            entry = pooled.setdefault(
                (phrase.role, key), {"score": 0.0, "uses": 0, "spellings": {}, "examples": []}
            )
            entry["score"] += weight
            entry["uses"] += 1
            spelling = normalize_phrase(phrase.text)
            entry["spellings"][spelling] = entry["spellings"].get(spelling, 0) + 1
            entry["examples"].extend((weight, image_id) for image_id in neighbour.examples)
    suggestions: dict[str, list[Suggestion]] = {role: [] for role in ENHANCE_ROLES}
    for (role, _), entry in pooled.items():
        spelling = max(entry["spellings"], key=lambda s: (entry["spellings"][s], -len(s), s))
        suggestions[role].append(
            Suggestion(
                text=spelling,
                role=role,
                score=round(entry["score"], 4),
                uses=entry["uses"],
                # The images of the prompts that weigh most (near and liked) first.
                examples=_best_examples(entry["examples"]),
            )
        )
    for role in ENHANCE_ROLES:
        suggestions[role].sort(key=lambda s: (-s.score, -s.uses, s.text))
        del suggestions[role][SUGGESTIONS_PER_ROLE:]
    return Enhancement(suggestions=suggestions, prompts=_three_prompts(idea, suggestions))


def _best_examples(weighted: list[tuple[float, int]]) -> list[int]:
    out: list[int] = []
    for _, image_id in sorted(weighted, key=lambda pair: -pair[0]):
        if image_id not in out:
            out.append(image_id)
        if len(out) == EXAMPLES_PER_MODIFIER:
            break
    return out


def _three_prompts(idea: str, suggestions: dict[str, list[Suggestion]]) -> list[str]:
    """The top picks; the runners-up; a style-heavy mix. Always three (the idea at least)."""
    base = idea.strip().rstrip(",")

    def build(recipe: dict[str, tuple[int, int]]) -> str:
        """The idea plus, per role, ``count`` modifiers from rank ``skip`` on, leaving out
        near-duplicates of those already chosen ("artstation" after "trending on artstation")."""
        chosen = [Phrase(text=base, parts=((base, 1.0),))] if base else []
        for role in ENHANCE_ROLES:
            skip, count = recipe.get(role, (0, 0))
            taken = 0
            for suggestion in suggestions[role][skip:]:
                if taken == count:
                    break
                candidate = Phrase(text=suggestion.text, role=role, parts=((suggestion.text, 1.0),))
                if len(phrases_deduplicate([*chosen, candidate], semantic=False)) > len(chosen):
                    chosen.append(candidate)
                    taken += 1
        return ", ".join(p.text for p in chosen)

    top = {role: (0, count) for role, count in _RECIPE.items()}
    runners = {role: (count, count) for role, count in _RECIPE.items()}
    styled = {STYLE: (0, 4), LIGHTING: (1, 1), QUALITY: (0, 1)}
    return [build(top), build(runners), build(styled)]

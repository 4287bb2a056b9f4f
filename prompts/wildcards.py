"""Wildcards: one prompt template, many prompts (the ``dynamicprompts`` library).

``{red|green|blue} car`` is a variant; ``__colour__`` a wildcard, one value per line of
``colour.txt`` in `settings.WILDCARDS_DIR`. ``combinatorial`` gives every combination (up to
the limit), ``random`` draws ``count`` prompts with a seed (the same seed, the same prompts),
and ``matrix`` is A1111's prompt matrix: ``a cat|oil painting|at night`` keeps the part before
the first ``|`` and adds every subset of the others (4 prompts here).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from django.conf import settings

MODES = ("combinatorial", "random", "matrix")
MAX_EXPANSIONS = 16
_WILDCARD = re.compile(r"__([\w./-]+?)__")


class WildcardError(ValueError):
    """A template that cannot be expanded (the message says why, for a 400)."""


def wildcard_names() -> list[str]:
    """The wildcard files available, as ``__name__`` would name them."""
    root = Path(settings.WILDCARDS_DIR)
    if not root.is_dir():
        return []
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.txt"))


def prompt_expand(
    *, text: str, mode: str = "combinatorial", count: int | None = None, seed: int | None = None
) -> list[str]:
    """The prompts a template stands for, at most `MAX_EXPANSIONS`, in a stable order."""
    if mode not in MODES:
        raise WildcardError(f"Unknown mode {mode!r}; use one of {', '.join(MODES)}.")
    limit = MAX_EXPANSIONS if count is None else count
    if not 1 <= limit <= MAX_EXPANSIONS:
        raise WildcardError(f"count must be between 1 and {MAX_EXPANSIONS}.")
    if mode == "matrix":
        return _matrix(text)[:limit]
    known = set(wildcard_names())
    missing = sorted({name for name in _WILDCARD.findall(text) if name not in known})
    if missing:
        raise WildcardError(
            f"No wildcard file for __{missing[0]}__ (add {missing[0]}.txt to the wildcards folder)."
        )
    from dynamicprompts.generators import CombinatorialPromptGenerator, RandomPromptGenerator
    from dynamicprompts.wildcards import WildcardManager

    manager = WildcardManager(Path(settings.WILDCARDS_DIR))
    try:
        if mode == "combinatorial":
            prompts = CombinatorialPromptGenerator(manager).generate(text, max_prompts=limit)
        else:
            generator = RandomPromptGenerator(manager, seed=seed if seed is not None else 0)
            prompts = generator.generate(text, num_images=limit)
    except Exception as exc:  # dynamicprompts raises its own parse errors on bad templates
        raise WildcardError(f"The template cannot be read: {exc}") from None
    return [str(p) for p in prompts][:limit]


def _matrix(text: str) -> list[str]:
    base, *options = [part.strip() for part in text.split("|")]
    if not options:
        return [base]
    out = []
    for size in range(len(options) + 1):
        for combo in itertools.combinations(options, size):
            out.append(", ".join([base, *combo]) if base else ", ".join(combo))
    return out


def prompts_varying_parts(prompts: list[str]) -> list[str]:
    """Per prompt of a batch, the comma-separated phrases that not every prompt shares.

    The labels of a wildcard grid, as A1111 labels a prompt matrix: ``"a cat, oil painting"``
    and ``"a cat, at night"`` are labelled ``"oil painting"`` and ``"at night"``; a prompt with
    nothing of its own (a matrix's base alone) is labelled ``"(base)"``.
    """
    split = [[part.strip() for part in text.split(",") if part.strip()] for text in prompts]
    shared = set.intersection(*(set(parts) for parts in split)) if len(split) > 1 else set()
    return [", ".join(p for p in parts if p not in shared) or "(base)" for parts in split]

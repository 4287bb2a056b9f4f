"""The modifier explorer: the gallery's modifiers by role, with counts, a trend and examples.

Read from the prompts of the newest `EXPLORER_IMAGES` visible images (parsing costs ~0.15 ms a
prompt, so 5,000 prompts is most of a second): the figures describe what people use now, and
the result is cached for `EXPLORER_CACHE_SECONDS`, keyed by the newest image (id and time), so
a new image refreshes it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.core.cache import cache
from django.utils import timezone

from gallery.remix import Viewer
from gallery.selectors import images_visible
from prompts.anatomy import KIND_TEXT, prompt_parse
from prompts.enhance import ENHANCE_ROLES
from prompts.remix import phrase_duplicate_key
from prompts.roles import normalize_phrase

EXPLORER_IMAGES = 5000
EXPLORER_CACHE_SECONDS = 600
EXPLORER_PER_ROLE = 30
TREND_MONTHS = 6


@dataclass
class ModifierStats:
    """One modifier: its usual spelling, how many images use it, per month, and examples."""

    text: str
    role: str
    count: int = 0
    trend: list[int] = field(default_factory=lambda: [0] * TREND_MONTHS)
    examples: list[int] = field(default_factory=list)
    spellings: dict[str, int] = field(default_factory=dict)


def _month_index(created: dt.datetime, now: dt.datetime) -> int | None:
    months = (now.year - created.year) * 12 + now.month - created.month
    return TREND_MONTHS - 1 - months if 0 <= months < TREND_MONTHS else None


def modifiers_overview(*, user: Viewer) -> dict[str, list[ModifierStats]]:
    """The most used modifiers of each role (style, lighting, camera, quality), most used first.

    ``trend`` counts images per calendar month, oldest first, the current month last;
    ``examples`` are up to three of the most liked images using the modifier.
    """
    images = images_visible(user=user)
    newest = images.order_by("-id").values_list("id", "created").first()
    key = f"modifiers-overview:{newest[0]}:{newest[1].isoformat()}" if newest else "modifiers:none"
    cached = cache.get(key)
    if cached is not None:
        return cached
    rows = list(
        images.order_by("-created", "-id").values_list(
            "id", "created", "like_count", "prompt__text"
        )[:EXPLORER_IMAGES]
    )
    rows.sort(key=lambda r: -r[2])  # most liked first, so examples are the liked ones
    now = timezone.now()
    stats: dict[tuple[str, tuple[str, ...]], ModifierStats] = {}
    parsed: dict[str, list[tuple[str, str]]] = {}
    for image_id, created, _, text in rows:
        if text not in parsed:
            parsed[text] = [
                (p.role, p.text)
                for p in prompt_parse(text).phrases
                if p.kind == KIND_TEXT and p.role in ENHANCE_ROLES
            ]
        month = _month_index(created, now)
        seen = set()
        for role, phrase in parsed[text]:
            ident = (role, phrase_duplicate_key(phrase))
            if not ident[1] or ident in seen:
                continue
            seen.add(ident)
            entry = stats.setdefault(ident, ModifierStats(text=phrase, role=role))
            entry.count += 1
            spelling = normalize_phrase(phrase)
            entry.spellings[spelling] = entry.spellings.get(spelling, 0) + 1
            if month is not None:
                entry.trend[month] += 1
            if len(entry.examples) < 3:
                entry.examples.append(image_id)
    overview: dict[str, list[ModifierStats]] = {role: [] for role in ENHANCE_ROLES}
    for entry in stats.values():
        entry.text = max(entry.spellings, key=lambda s: (entry.spellings[s], -len(s)))
        overview[entry.role].append(entry)
    for role in overview:
        overview[role].sort(key=lambda s: (-s.count, s.text))
        del overview[role][EXPLORER_PER_ROLE:]
    cache.set(key, overview, EXPLORER_CACHE_SECONDS)
    return overview

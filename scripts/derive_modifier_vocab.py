"""Derive `prompts/data/modifiers.json` (the role vocabulary) from open-prompts' modifier lists.

Run once by hand when the source list changes; the derived file is committed, so nothing at run
time or in the tests reads ``../shared``::

    .venv/bin/python scripts/derive_modifier_vocab.py ../shared/data/open-prompts-modifiers.json

open-prompts groups its modifiers by theme ("alien", "photography", "art styles"), not by role,
so each modifier goes through the same keyword rules the tagger uses (`prompts.roles`), with
the theme as a fallback: a name in "art styles" is an artist (style), one in "art movements" is
a movement (style). Modifiers the rules call "subject" (``alien rabbit``, ``tall glass``) are
left out: the vocabulary lists modifiers, and anything not listed is subject anyway.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prompts.roles import ROLES_TAGGED, phrase_role_by_rules  # noqa: E402

# Themes whose every modifier is a style: artists, movements, tools and renderers, genres/media.
_THEME_ROLE = {
    "art styles": "style",
    "art movements": "style",
    "design tools and communities": "style",
    "genres": "style",
    "3D": "style",
}


def _clean(name: str) -> str:
    # A few entries carry list debris: "—H.R. Giger", "3J.G.Quintel".
    name = unicodedata.normalize("NFC", name).strip().lower()
    return name.lstrip("—3").strip() if name[:1] in "—3" and not name.startswith("3d") else name


def main(source: str) -> None:
    data = json.loads(Path(source).read_text())
    vocabulary: dict[str, set[str]] = {role: set() for role in ROLES_TAGGED if role != "subject"}
    artists: set[str] = set()
    for category in data:
        for sub in category["subcategories"]:
            for modifier in sub["modifiers"]:
                name = _clean(modifier["name"])
                if not name:
                    continue
                by_rules = phrase_role_by_rules(name)
                # Rules decide when they see a modifier ("cinematic lighting" in "genres" is
                # lighting); the theme decides what they would call subject.
                role = by_rules if by_rules != "subject" else _THEME_ROLE.get(sub["name"])
                if role in vocabulary and role != "subject":
                    vocabulary[role].add(name)
                if sub["name"] == "art styles":
                    artists.add(name)
    out = ROOT / "prompts" / "data" / "modifiers.json"
    payload = {
        "source": "derived from open-prompts-modifiers.json by scripts/derive_modifier_vocab.py",
        **{role: sorted(names) for role, names in vocabulary.items()},
        "artists": sorted(artists),
    }
    out.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
    print(out, {role: len(names) for role, names in vocabulary.items()})


if __name__ == "__main__":
    main(
        sys.argv[1]
        if len(sys.argv) > 1
        else str(ROOT.parent / "shared/data/open-prompts-modifiers.json")
    )

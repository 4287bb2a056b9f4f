"""Prompt normalisation: what makes two prompts "the same prompt"."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_COMMA = re.compile(r"\s+,")
_REPEATED_COMMAS = re.compile(r",(\s*,)+")

# Prompts longer than this are refused everywhere: far beyond any CLIP chunking anyone uses.
MAX_PROMPT_CHARS = 4000


def normalize_prompt(text: str) -> str:
    """Return the canonical form of one prompt.

    CLIP's tokenizer lowercases and ignores runs of whitespace, so prompts that differ only
    in case, spacing or doubled commas give the same image; they map to one form here.
    """
    text = unicodedata.normalize("NFC", text).replace("\x00", "")
    text = _SPACES.sub(" ", text).strip()
    text = _SPACE_BEFORE_COMMA.sub(",", text)
    text = _REPEATED_COMMAS.sub(",", text)
    return text.strip(" ,").lower()


def prompt_pair_key(text: str, negative_text: str) -> tuple[str, str]:
    """The normalised pair and its SHA-256, the identity of a `Prompt` row."""
    normalized = normalize_prompt(text) + "\n\x1f\n" + normalize_prompt(negative_text)
    return normalized, hashlib.sha256(normalized.encode()).hexdigest()

"""From a file's text chunks to the draft's ``metadata``: pick the parser, then clean.

Everything in a chunk is untrusted: parsers may return anything, and ``metadata_clean`` is the
one place that turns it into bounded, typed values the database and the page can hold (no NUL
or control characters, no NaN, integers in column range, ``extra`` flat and capped). A parser
that fails costs the metadata, never the upload.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from typing import Any

from gallery.uploads.comfyui import comfyui_parse
from gallery.uploads.formats import (
    fooocus_parse,
    invokeai_legacy_parse,
    invokeai_parse,
    novelai_parse,
)
from gallery.uploads.infotext import dream_parse, infotext_parse
from prompts.text import MAX_PROMPT_CHARS

logger = logging.getLogger(__name__)

# The draft's metadata fields, in the API contract's order.
METADATA_FIELDS = (
    "generator",
    "prompt",
    "negative_prompt",
    "model",
    "model_hash",
    "scheduler",
    "steps",
    "cfg_scale",
    "seed",
    "width",
    "height",
    "clip_skip",
    "extra",
)
GENERATORS = ("automatic1111", "forge", "comfyui", "invokeai", "fooocus", "novelai")
TEXT_LIMITS = {"model": 200, "model_hash": 64, "scheduler": 64}
INT_RANGES = {
    "steps": (1, 1000),
    "width": (1, 65535),
    "height": (1, 65535),
    "clip_skip": (1, 100),
    "seed": (0, 2**63 - 1),
}
MAX_EXTRA_KEYS = 64
MAX_EXTRA_VALUE = 2000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _text_parser(text: str) -> dict[str, Any] | None:
    """A1111 ``parameters`` text, Fooocus JSON in the same chunk, or an EXIF UserComment."""
    if text.lstrip().startswith("{"):
        return fooocus_parse(text)
    fields = infotext_parse(text)
    if fields and "Fooocus" in fields["extra"].get("Version", ""):
        fields["generator"] = "fooocus"
    return fields


# (chunk that identifies the tool, parser of that chunk), most specific first.
_CHUNK_PARSERS: tuple[tuple[str, Callable[[str], dict[str, Any] | None]], ...] = (
    ("prompt", comfyui_parse),
    ("invokeai_metadata", invokeai_parse),
    ("sd-metadata", invokeai_legacy_parse),
    ("Dream", dream_parse),
    ("parameters", _text_parser),
    ("UserComment", _text_parser),
    ("comment", _text_parser),
)


def _dispatch(chunks: dict[str, str]) -> dict[str, Any] | None:
    novelai = chunks.get("Software", "").startswith("NovelAI")
    if novelai or {"Comment", "Description"} <= set(chunks):
        fields = novelai_parse(chunks)
        if fields:
            return fields
    for name, parser in _CHUNK_PARSERS:
        if name in chunks:
            fields = parser(chunks[name])
            if fields:
                return fields
    return None


def _clean_text(value: Any, limit: int) -> str:
    if not isinstance(value, str):
        value = "" if value is None or isinstance(value, dict | list) else str(value)
    return _CONTROL.sub("", value).strip()[:limit]


def _clean_int(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, bool):
        return None
    integral_float = isinstance(value, float) and math.isfinite(value) and value.is_integer()
    digits = isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,20}\s*", value)
    if integral_float or digits:
        value = int(value)
    return value if isinstance(value, int) and low <= value <= high else None


def _clean_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value) if isinstance(value, int | float | str) else None
    except ValueError:
        return None
    if number is None or not math.isfinite(number) or not 0 <= number <= 100:
        return None
    return number


def _clean_extra(extra: Any) -> dict[str, str]:
    if not isinstance(extra, dict):
        return {}
    cleaned: dict[str, str] = {}
    for key, value in list(extra.items())[:MAX_EXTRA_KEYS]:
        name = _clean_text(key, 100)
        if name and isinstance(value, str | int | float | bool):
            cleaned[name] = _clean_text(value, MAX_EXTRA_VALUE)
    return cleaned


def metadata_clean(raw: dict[str, Any]) -> dict[str, Any]:
    """The contract's metadata fields, each bounded and typed, from whatever a parser gave."""
    generator = raw.get("generator")
    cleaned: dict[str, Any] = {"generator": generator if generator in GENERATORS else ""}
    for name in ("prompt", "negative_prompt"):
        cleaned[name] = _clean_text(raw.get(name), MAX_PROMPT_CHARS)
    for name, limit in TEXT_LIMITS.items():
        cleaned[name] = _clean_text(raw.get(name), limit)
    for name, (low, high) in INT_RANGES.items():
        cleaned[name] = _clean_int(raw.get(name), low, high)
    cleaned["cfg_scale"] = _clean_float(raw.get("cfg_scale"))
    cleaned["extra"] = _clean_extra(raw.get("extra"))
    return {name: cleaned[name] for name in METADATA_FIELDS}


def metadata_read(*, chunks: dict[str, str]) -> dict[str, Any]:
    """Draft metadata from a file's text chunks; empty fields when nothing could be read."""
    try:
        parsed = _dispatch(chunks)
    except Exception:  # hostile metadata costs the metadata, not the upload
        logger.warning("upload metadata could not be parsed", exc_info=True)
        parsed = None
    return metadata_clean(parsed or {})

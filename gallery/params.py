"""Generation parameters of one image, and their A1111 "infotext" form.

The infotext is the text AUTOMATIC1111 writes into a PNG's ``parameters`` chunk and reads back
with "PNG Info" / "read generation parameters"; Civitai and most uploaders read it too. Copying
it from our image page, or downloading our PNG, therefore carries every setting elsewhere.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_NEEDS_QUOTES = re.compile(r'[,:\n"]')


def _quote(value: str) -> str:
    # A1111 quotes a value that would otherwise break its "key: value, key: value" line.
    if _NEEDS_QUOTES.search(value):
        return json.dumps(value, ensure_ascii=False)
    return value


def _number(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class GenerationParams:
    """Everything needed to reproduce an image (STYLE rule 18)."""

    prompt: str
    negative_prompt: str = ""
    model_name: str = ""
    model_hash: str = ""
    scheduler: str = ""
    steps: int | None = None
    cfg_scale: float | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    clip_skip: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def infotext(self) -> str:
        """The A1111 infotext: prompt, ``Negative prompt:`` line, then ``Key: value`` pairs."""
        lines = [self.prompt]
        if self.negative_prompt:
            lines.append(f"Negative prompt: {self.negative_prompt}")
        pairs: list[tuple[str, str]] = []
        if self.steps is not None:
            pairs.append(("Steps", str(self.steps)))
        if self.scheduler:
            pairs.append(("Sampler", self.scheduler))
        if self.cfg_scale is not None:
            pairs.append(("CFG scale", _number(self.cfg_scale)))
        if self.seed is not None:
            pairs.append(("Seed", str(self.seed)))
        if self.width and self.height:
            pairs.append(("Size", f"{self.width}x{self.height}"))
        if self.model_hash:
            pairs.append(("Model hash", self.model_hash))
        if self.model_name:
            pairs.append(("Model", self.model_name))
        if self.clip_skip is not None:
            pairs.append(("Clip skip", str(self.clip_skip)))
        for key, value in self.extra.items():
            if isinstance(value, dict | list):
                continue
            pairs.append((str(key), str(value)))
        if pairs:
            lines.append(", ".join(f"{key}: {_quote(value)}" for key, value in pairs))
        return "\n".join(lines)

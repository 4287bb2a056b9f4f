"""AUTOMATIC1111 / Forge "infotext", and InvokeAI 1.x's ``Dream`` command line.

Infotext is the prompt, an optional ``Negative prompt:`` part, then one line of
``Key: value`` pairs. Values containing commas or colons are JSON-quoted (``Lora hashes``),
and ``Hashes`` may be a bare JSON object; both are kept whole, as A1111's own reader does.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from gallery.uploads.reproducibility import sampler_a1111_name

# A1111's own pattern (modules/infotext_utils.py), plus bare JSON objects for "Hashes".
_PAIR = re.compile(r'\s*(\w[\w \-/+().]*):\s*("(?:\\.|[^\\"])*"|\{[^{}]*\}|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*$")
_NEGATIVE = "Negative prompt:"
_FIELDS = {
    "Steps": "steps",
    "CFG scale": "cfg_scale",
    "Seed": "seed",
    "Model": "model",
    "Model hash": "model_hash",
    "Clip skip": "clip_skip",
}


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        return decoded if isinstance(decoded, str) else value
    return value


def _pairs(line: str) -> dict[str, str]:
    return {key.strip(): _unquote(value) for key, value in _PAIR.findall(line)}


def infotext_parse(text: str) -> dict[str, Any] | None:
    """Read A1111/Forge infotext into draft fields; None when the text is not infotext.

    The last line is the parameters line if it holds at least two known keys (A1111 needs
    ``Steps``); everything before it is the prompt, split at ``Negative prompt:``.
    """
    lines = text.strip().replace("\r\n", "\n").split("\n")
    pairs = _pairs(lines[-1]) if lines else {}
    if "Steps" not in pairs or len(pairs) < 2:
        return None
    prompt: list[str] = []
    negative: list[str] = []
    target = prompt
    for line in lines[:-1]:
        if line.lstrip().startswith(_NEGATIVE):
            target, line = negative, line.lstrip()[len(_NEGATIVE) :]
        target.append(line)
    fields: dict[str, Any] = {
        "prompt": "\n".join(prompt).strip(),
        "negative_prompt": "\n".join(negative).strip(),
    }
    extra: dict[str, str] = {}
    for key, value in pairs.items():
        if key in _FIELDS:
            fields[_FIELDS[key]] = value
        elif key == "Size" and _SIZE.match(value):
            width, height = _SIZE.match(value).groups()  # type: ignore[union-attr]
            fields["width"], fields["height"] = width, height
        elif key != "Sampler":
            extra[key] = value
    fields["scheduler"] = _sampler_with_schedule(pairs.get("Sampler", ""), extra)
    version = extra.get("Version", "")
    fields["generator"] = "forge" if version.startswith("f") else "automatic1111"
    fields["extra"] = extra
    return fields


def _sampler_with_schedule(sampler: str, extra: dict[str, str]) -> str:
    """A1111 >= 1.9 writes "DPM++ 2M" + "Schedule type: Karras"; older ones "DPM++ 2M Karras"."""
    schedule = extra.get("Schedule type", "")
    if sampler and schedule and schedule != "Automatic" and not sampler.endswith(schedule):
        return f"{sampler} {schedule}"
    return sampler


# InvokeAI 1.x "Dream" switches: -s steps, -S seed, -W/-H size, -C cfg, -A sampler.
_DREAM_SWITCHES = {
    "-s": "steps",
    "--steps": "steps",
    "-S": "seed",
    "--seed": "seed",
    "-W": "width",
    "--width": "width",
    "-H": "height",
    "--height": "height",
    "-C": "cfg_scale",
    "--cfg_scale": "cfg_scale",
    "-A": "scheduler",
    "--sampler": "scheduler",
}
_BRACKETED = re.compile(r"\[([^\[\]]*)\]")


def prompt_split_brackets(text: str) -> tuple[str, str]:
    """InvokeAI 1.x/2.x put the negative prompt in ``[brackets]`` inside the prompt."""
    negatives = [part.strip() for part in _BRACKETED.findall(text) if part.strip()]
    positive = _BRACKETED.sub("", text)
    positive = re.sub(r"\s+", " ", positive).strip(" ,")
    return positive, ", ".join(negatives)


def dream_parse(text: str) -> dict[str, Any] | None:
    """Read an InvokeAI 1.x ``Dream`` chunk: ``"prompt [negative]" -s 50 -S 42 ...``."""
    try:
        words = shlex.split(text)
    except ValueError:
        return None
    if not words:
        return None
    positive, negative = prompt_split_brackets(words[0])
    fields: dict[str, Any] = {"generator": "invokeai", "prompt": positive}
    fields["negative_prompt"] = negative
    extra: dict[str, str] = {}
    rest = iter(words[1:])
    for word in rest:
        value = next(rest, "")
        if word in _DREAM_SWITCHES:
            fields[_DREAM_SWITCHES[word]] = value
            if _DREAM_SWITCHES[word] == "scheduler":
                fields["scheduler"] = sampler_a1111_name(sampler=value)
        elif word.startswith("-"):
            extra[word.lstrip("-")] = value
    fields["extra"] = extra
    return fields

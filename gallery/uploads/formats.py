"""InvokeAI, Fooocus and NovelAI: each writes one JSON chunk in its own shape."""

from __future__ import annotations

import json
import re
from typing import Any

from gallery.uploads.infotext import prompt_split_brackets
from gallery.uploads.reproducibility import sampler_a1111_name


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _leftovers(data: dict[str, Any], used: set[str]) -> dict[str, str]:
    """Every other scalar setting, kept as text in ``extra`` (nested values are not kept)."""
    return {
        str(key): str(value)
        for key, value in data.items()
        if key not in used and isinstance(value, str | int | float | bool) and value != ""
    }


def invokeai_parse(text: str) -> dict[str, Any] | None:
    """InvokeAI 3+ ``invokeai_metadata``: flat JSON, the model as an object."""
    data = _json_object(text)
    if data is None:
        return None
    model = data.get("model")
    model_name, model_hash = "", ""
    if isinstance(model, dict):
        model_name = str(model.get("name") or model.get("model_name") or "")
        model_hash = str(model.get("hash") or "")
    elif isinstance(model, str):
        model_name = model
    prompt = data.get("positive_prompt", data.get("prompt", ""))
    used = {"positive_prompt", "prompt", "negative_prompt", "model", "scheduler", "steps"}
    used |= {"cfg_scale", "seed", "width", "height", "clip_skip"}
    return {
        "generator": "invokeai",
        "prompt": prompt if isinstance(prompt, str) else "",
        "negative_prompt": data.get("negative_prompt", ""),
        "model": model_name,
        "model_hash": model_hash,
        "scheduler": sampler_a1111_name(sampler=str(data.get("scheduler", ""))),
        "steps": data.get("steps"),
        "cfg_scale": data.get("cfg_scale"),
        "seed": data.get("seed"),
        "width": data.get("width"),
        "height": data.get("height"),
        "clip_skip": data.get("clip_skip"),
        "extra": _leftovers(data, used),
    }


def invokeai_legacy_parse(text: str) -> dict[str, Any] | None:
    """InvokeAI 2.x ``sd-metadata``: the settings under ``image``, the negative in [brackets]."""
    data = _json_object(text)
    image = data.get("image") if data else None
    if not isinstance(image, dict):
        return None
    prompt = image.get("prompt", "")
    if isinstance(prompt, list):  # [{"prompt": "...", "weight": 1.0}, ...]
        prompt = " ".join(p.get("prompt", "") for p in prompt if isinstance(p, dict))
    positive, negative = prompt_split_brackets(prompt if isinstance(prompt, str) else "")
    used = {"prompt", "sampler", "steps", "cfg_scale", "seed", "width", "height"}
    extra = _leftovers(image, used)
    extra.update(_leftovers(data, {"image", "model_weights", "model_hash"}))
    return {
        "generator": "invokeai",
        "prompt": positive,
        "negative_prompt": negative,
        "model": str(data.get("model_weights") or ""),
        "model_hash": str(data.get("model_hash") or ""),
        "scheduler": sampler_a1111_name(sampler=str(image.get("sampler", ""))),
        "steps": image.get("steps"),
        "cfg_scale": image.get("cfg_scale"),
        "seed": image.get("seed"),
        "width": image.get("width"),
        "height": image.get("height"),
        "extra": extra,
    }


_RESOLUTION = re.compile(r"\(?\s*(\d+)\s*[,xX\N{MULTIPLICATION SIGN}]\s*(\d+)\s*\)?")


def fooocus_parse(text: str) -> dict[str, Any] | None:
    """Fooocus (``fooocus_scheme: fooocus``): JSON with ``base_model``, ``guidance_scale``..."""
    data = _json_object(text)
    if data is None or "prompt" not in data or not ({"base_model", "guidance_scale"} & set(data)):
        return None
    width = height = None
    match = _RESOLUTION.fullmatch(str(data.get("resolution", "")).strip())
    if match:
        width, height = match.groups()
    used = {"prompt", "negative_prompt", "base_model", "base_model_hash", "sampler", "steps"}
    used |= {"scheduler", "guidance_scale", "seed", "resolution", "clip_skip"}
    return {
        "generator": "fooocus",
        "prompt": data.get("prompt", ""),
        "negative_prompt": data.get("negative_prompt", ""),
        "model": str(data.get("base_model") or ""),
        "model_hash": str(data.get("base_model_hash") or ""),
        "scheduler": sampler_a1111_name(
            sampler=str(data.get("sampler", "")), schedule=str(data.get("scheduler", ""))
        ),
        "steps": data.get("steps"),
        "cfg_scale": data.get("guidance_scale"),
        "seed": data.get("seed"),
        "width": width,
        "height": height,
        "clip_skip": data.get("clip_skip"),
        "extra": _leftovers(data, used),
    }


def novelai_parse(chunks: dict[str, str]) -> dict[str, Any] | None:
    """NovelAI: ``Description`` is the prompt, ``Comment`` JSON the rest, ``Source`` the model."""
    data = _json_object(chunks.get("Comment", ""))
    if data is None:
        return None
    prompt = chunks.get("Description") or data.get("prompt", "")
    # "Stable Diffusion XL C1E1DE52": the model, then its short hash.
    model, _, model_hash = chunks.get("Source", "").rpartition(" ")
    if not re.fullmatch(r"[0-9A-F]{8}", model_hash):
        model, model_hash = chunks.get("Source", ""), ""
    used = {"prompt", "uc", "steps", "scale", "seed", "width", "height", "sampler"}
    return {
        "generator": "novelai",
        "prompt": prompt,
        "negative_prompt": data.get("uc", ""),
        "model": model,
        "model_hash": model_hash,
        "scheduler": sampler_a1111_name(
            sampler=str(data.get("sampler", "")), schedule=str(data.get("noise_schedule", ""))
        ),
        "steps": data.get("steps"),
        "cfg_scale": data.get("scale"),
        "seed": data.get("seed"),
        "width": data.get("width"),
        "height": data.get("height"),
        "extra": _leftovers(data, used),
    }

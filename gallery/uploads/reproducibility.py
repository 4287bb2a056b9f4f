"""Sampler names across tools, and whether our worker could render an upload again.

Every tool names samplers its own way (ComfyUI ``dpmpp_2m`` + ``karras``, InvokeAI
``dpmpp_2m_k``, NovelAI ``k_euler_ancestral``); drafts show A1111's names, which our images,
our job form and most sites use. ``RUNNABLE_SAMPLERS`` are the A1111 names our worker runs; it
lives here, not in ``generation``, because gallery must not import the app above it, and a
test checks it against ``generation.pipelines.scheduler_names()``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

RUNNABLE_SAMPLERS: tuple[str, ...] = ("Euler a", "Euler", "DPM++ 2M Karras", "DDIM", "UniPC")

# Base sampler names (ComfyUI/k-diffusion spelling, "k_" and "_gpu" removed) -> A1111.
_BASE = {
    "euler": "Euler",
    "euler_ancestral": "Euler a",
    "euler_a": "Euler a",
    "heun": "Heun",
    "dpm_2": "DPM2",
    "dpm_2_ancestral": "DPM2 a",
    "lms": "LMS",
    "dpm_fast": "DPM fast",
    "dpm_adaptive": "DPM adaptive",
    "dpmpp_2s_ancestral": "DPM++ 2S a",
    "dpmpp_sde": "DPM++ SDE",
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_sde": "DPM++ 2M SDE",
    "dpmpp_3m_sde": "DPM++ 3M SDE",
    "ddim": "DDIM",
    "plms": "PLMS",
    "uni_pc": "UniPC",
    "unipc": "UniPC",
    "lcm": "LCM",
    "deis": "DEIS",
}
_SCHEDULES = {"karras": "Karras", "exponential": "Exponential", "sgm_uniform": "SGM Uniform"}


def sampler_a1111_name(*, sampler: str, schedule: str = "") -> str:
    """A1111's name for a tool's sampler (and noise schedule); unknown names pass through."""
    key = sampler.strip().lower().removeprefix("k_").removesuffix("_gpu")
    if key.endswith("_k") and key[:-2] in _BASE:  # InvokeAI: dpmpp_2m_k = DPM++ 2M Karras
        key, schedule = key[:-2], "karras"
    name = _BASE.get(key)
    if name is None:
        return sampler.strip()
    suffix = _SCHEDULES.get(schedule.strip().lower(), "")
    return f"{name} {suffix}" if suffix else name


def _model_available(model: str, models: Collection[str]) -> bool:
    """A file name like ``v1-5-pruned.safetensors`` matches the configured ``v1-5-pruned``."""
    if not model:
        return False
    stem = model.replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in (".safetensors", ".ckpt", ".pt", ".bin"):
        stem = stem.removesuffix(suffix)
    wanted = {model.lower(), stem.lower()}
    return any(name.lower() in wanted for name in models)


REPRODUCIBILITY_FIELDS = ("model", "model_hash", "scheduler", "steps", "cfg_scale", "seed", "size")


def reproducibility_assess(
    *,
    metadata: Mapping[str, Any],
    models: Collection[str],
    samplers: Collection[str] = RUNNABLE_SAMPLERS,
) -> dict[str, Any]:
    """``reproducible`` / ``partial`` / ``no``, with what is known and what is missing.

    Reproducible: prompt, model, scheduler, steps, CFG, seed and size are all known, the
    scheduler is one our worker runs and the model is one we have. Partial: a prompt and some
    settings are known. No: nothing to start from.
    """
    known = {
        "model": bool(metadata.get("model")),
        "model_hash": bool(metadata.get("model_hash")),
        "scheduler": bool(metadata.get("scheduler")),
        "steps": metadata.get("steps") is not None,
        "cfg_scale": metadata.get("cfg_scale") is not None,
        "seed": metadata.get("seed") is not None,
        "size": bool(metadata.get("width") and metadata.get("height")),
    }
    scheduler_ok = metadata.get("scheduler") in samplers
    model_ok = _model_available(str(metadata.get("model") or ""), models)
    has_prompt = bool(str(metadata.get("prompt") or "").strip())
    needed = [name for name in REPRODUCIBILITY_FIELDS if name != "model_hash"]
    if has_prompt and all(known[name] for name in needed) and scheduler_ok and model_ok:
        verdict = "reproducible"
    elif has_prompt and any(known.values()):
        verdict = "partial"
    else:
        verdict = "no"
    return {
        "verdict": verdict,
        "known": [name for name in REPRODUCIBILITY_FIELDS if known[name]],
        "missing": [name for name in REPRODUCIBILITY_FIELDS if not known[name]],
        "scheduler_supported": scheduler_ok,
        "model_available": model_ok,
    }

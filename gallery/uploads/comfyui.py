"""ComfyUI: read the prompt and settings out of the ``prompt`` chunk (the API-format graph).

The graph is ``{node_id: {"class_type", "inputs": {name: value | [node_id, output]}}}``. We find
the sampler that made the picture, then follow its ``positive``/``negative`` links back to the
text encoders and its ``model`` link back to the checkpoint loader, passing through reroutes,
guidance, LoRA and conditioning nodes on the way. Every walk is bounded: graphs are untrusted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from gallery.uploads.reproducibility import sampler_a1111_name

MAX_NODES = 5000
MAX_WALK = 200
_TEXT_KEYS = ("text", "text_g", "text_l", "clip_l", "t5xxl", "prompt", "string", "populated_text")
_MODEL_KEYS = ("ckpt_name", "unet_name", "model_name", "ckpt")
_SCALAR_KEYS = ("value", "seed", "noise_seed", "int", "float", "number", "string", "text")
_SUBNODE_KEYS = ("noise", "guider", "sampler", "sigmas")
_LATENT_KEYS = ("latent_image", "samples", "latent", "")

Graph = dict[str, dict[str, Any]]


def _is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str | int)
        and isinstance(value[1], int)
    )


def _inputs(node: Any) -> dict[str, Any]:
    inputs = node.get("inputs") if isinstance(node, dict) else None
    return inputs if isinstance(inputs, dict) else {}


def _target(graph: Graph, value: Any) -> dict[str, Any] | None:
    if not _is_link(value):
        return None
    node = graph.get(str(value[0]))
    return node if isinstance(node, dict) else None


def _links(node: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in _inputs(node).items() if _is_link(value)}


def _scalar(graph: Graph, value: Any, depth: int = 0) -> Any:
    """A literal input, or the value a primitive/reroute node upstream holds."""
    if not _is_link(value):
        return value
    node = _target(graph, value)
    if node is None or depth > 20:
        return None
    inputs = _inputs(node)
    for key in _SCALAR_KEYS:
        if key in inputs:
            return _scalar(graph, inputs[key], depth + 1)
    links = list(_links(node).values())
    if len(links) == 1:  # a reroute
        return _scalar(graph, links[0], depth + 1)
    return next((v for v in inputs.values() if isinstance(v, str | int | float)), None)


def _conditioning_texts(graph: Graph, start: Any, polarity: str, extra: dict[str, str]) -> str:
    """Texts of the encoders feeding one sampler input, joined like A1111 would show them."""
    texts: list[str] = []
    stack, seen = [start], set()
    while stack and len(seen) < MAX_WALK:
        link = stack.pop()
        node = _target(graph, link)
        if node is None or str(link[0]) in seen:
            continue
        seen.add(str(link[0]))
        inputs = _inputs(node)
        if "guidance" in inputs and not _is_link(inputs["guidance"]):
            extra.setdefault("Guidance", str(inputs["guidance"]))
        found = [_scalar(graph, inputs[key]) for key in _TEXT_KEYS if key in inputs]
        found = [text.strip() for text in found if isinstance(text, str) and text.strip()]
        if found:
            texts.extend(text for text in dict.fromkeys(found) if text not in texts)
            continue
        links = _links(node)
        if polarity in links:  # e.g. ControlNetApplyAdvanced: follow the same side
            stack.append(links[polarity])
            continue
        followed = [v for k, v in links.items() if "conditioning" in k or k in ("", "input")]
        if not followed and len(links) == 1:
            followed = list(links.values())
        stack.extend(reversed(followed))
    return ", ".join(texts)


def _chain(graph: Graph, start: Any, keys: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """Nodes met walking back from ``start`` along the first of ``keys`` (or a lone link)."""
    link = start
    for _ in range(MAX_WALK):
        node = _target(graph, link)
        if node is None:
            return
        yield node
        links = _links(node)
        link = next((links[k] for k in keys if k in links), None)
        if link is None and len(links) == 1:  # a reroute
            link = next(iter(links.values()))


def _model(graph: Graph, start: Any, extra: dict[str, str]) -> str:
    """The checkpoint behind a ``model`` link; LoRAs met on the way go into ``extra``."""
    loras: list[str] = []
    name = ""
    for node in _chain(graph, start, ("model",)):
        inputs = _inputs(node)
        name = next((inputs[k] for k in _MODEL_KEYS if isinstance(inputs.get(k), str)), "")
        if name:
            break
        if isinstance(inputs.get("lora_name"), str):
            loras.append(f"{inputs['lora_name']}: {inputs.get('strength_model', 1)}")
    if loras:
        extra["Lora"] = ", ".join(loras)
    return name


def _latent_size(graph: Graph, start: Any) -> tuple[Any, Any]:
    """Width and height of the empty latent a sampler starts from, if it starts from one.

    The walk stops at another sampler: a hires pass starts from the first pass's output.
    """
    for node in _chain(graph, start, _LATENT_KEYS):
        inputs = _inputs(node)
        if "positive" in inputs or "guider" in inputs:
            break
        if "width" in inputs and "height" in inputs:
            return _scalar(graph, inputs["width"]), _scalar(graph, inputs["height"])
    return None, None


def _sampler_view(graph: Graph, node: dict[str, Any]) -> dict[str, Any]:
    """One flat view of a sampler, whether KSampler or SamplerCustom(Advanced) with sub-nodes."""
    view = dict(_inputs(node))
    for key in _SUBNODE_KEYS:
        sub = _target(graph, view.get(key))
        for name, value in _inputs(sub).items():
            view.setdefault(name, value)
    if "positive" not in view and "conditioning" in view:  # BasicGuider (Flux)
        view["positive"] = view["conditioning"]
    return view


def _pick_sampler(graph: Graph) -> dict[str, Any] | None:
    """The first pass's sampler: it starts from an empty latent (a hires pass does not)."""
    samplers = []
    for node_id in sorted(graph, key=lambda k: (len(k), k)):
        node = graph[node_id]
        view = _sampler_view(graph, node)
        if _is_link(view.get("positive")) and ("seed" in view or "noise_seed" in view):
            samplers.append(view)
    for view in samplers:
        if _latent_size(graph, view.get("latent_image")) != (None, None):
            return view
    return samplers[0] if samplers else None


def comfyui_parse(prompt_chunk: str) -> dict[str, Any] | None:
    """Draft fields from ComfyUI's ``prompt`` chunk; None if it is not a usable graph."""
    try:
        graph = json.loads(prompt_chunk)
    except (ValueError, RecursionError):
        return None
    if not isinstance(graph, dict) or not graph or len(graph) > MAX_NODES:
        return None
    graph = {str(key): node for key, node in graph.items() if isinstance(node, dict)}
    view = _pick_sampler(graph)
    if view is None:
        return None
    extra: dict[str, str] = {}
    sampler = _scalar(graph, view.get("sampler_name"))
    schedule = _scalar(graph, view.get("scheduler"))
    sampler, schedule = str(sampler or ""), str(schedule or "")
    if sampler:
        extra["ComfyUI sampler"] = f"{sampler} {schedule}".strip()
    width, height = _latent_size(graph, view.get("latent_image"))
    denoise = _scalar(graph, view.get("denoise"))
    if denoise is not None and denoise != 1:
        extra["Denoising strength"] = str(denoise)
    fields = {
        "generator": "comfyui",
        "prompt": _conditioning_texts(graph, view["positive"], "positive", extra),
        "negative_prompt": _conditioning_texts(graph, view.get("negative"), "negative", extra),
        "model": _model(graph, view.get("model"), extra),
        "scheduler": sampler_a1111_name(sampler=sampler, schedule=schedule) if sampler else "",
        "steps": _scalar(graph, view.get("steps")),
        "cfg_scale": _scalar(graph, view.get("cfg")),
        "seed": _scalar(graph, view.get("seed", view.get("noise_seed"))),
        "width": width,
        "height": height,
    }
    fields["extra"] = extra
    return fields

"""Devices, samplers and model loading: hub ids, diffusers folders, single checkpoint files.

Pipelines are loaded once per process and kept (`get_pipeline`); the inpainting variant of a
model reuses its loaded components (`get_inpaint_pipeline`). Heavy libraries are imported inside
the functions (see the package docstring).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import torch
    from diffusers import StableDiffusionPipeline

logger = logging.getLogger(__name__)

MAX_SEED = 2**64 - 1  # what torch.Generator.manual_seed accepts
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt")
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


class PipelineInputError(ValueError):
    """A request or model source we cannot render; the message is short and shown to users."""


class GenerationCancelled(Exception):
    """The step callback asked to stop; nothing was produced."""


class SchedulerSpec(NamedTuple):
    """A diffusers scheduler class name, and the config overrides that make it an A1111 sampler."""

    class_name: str
    overrides: Mapping[str, Any]


def _spec(class_name: str, **overrides: Any) -> SchedulerSpec:
    return SchedulerSpec(class_name, MappingProxyType(overrides))


# A1111 sampler name -> diffusers scheduler, following the mapping table in diffusers' scheduler
# docs (api/schedulers/overview). Everything else (betas, prediction type, timestep spacing)
# comes from the model's own scheduler config.
SCHEDULERS: Mapping[str, SchedulerSpec] = MappingProxyType(
    {
        "Euler": _spec("EulerDiscreteScheduler"),
        "Euler a": _spec("EulerAncestralDiscreteScheduler"),
        "DPM++ 2M": _spec("DPMSolverMultistepScheduler"),
        "DPM++ 2M Karras": _spec("DPMSolverMultistepScheduler", use_karras_sigmas=True),
        # Needs the torchsde package (Brownian-tree noise, as in k-diffusion).
        "DPM++ SDE Karras": _spec("DPMSolverSDEScheduler", use_karras_sigmas=True),
        "DDIM": _spec("DDIMScheduler"),
        "UniPC": _spec("UniPCMultistepScheduler"),
        "LMS": _spec("LMSDiscreteScheduler"),
        "Heun": _spec("HeunDiscreteScheduler"),
        "PNDM": _spec("PNDMScheduler"),
    }
)


def scheduler_names() -> list[str]:
    """The sampler names a `RenderRequest` accepts, in A1111's spelling."""
    return list(SCHEDULERS)


# --- devices and loading -------------------------------------------------------------------


def select_device(preference: str = "auto") -> tuple[str, torch.dtype]:
    """The device to run on and its dtype: CUDA in fp16, else Apple's MPS, else the CPU.

    MPS and the CPU run in fp32: fp16 is slow on CPUs, and on MPS it has produced black images
    with some schedulers. ``preference`` may name a device (``"cuda:1"``, ``"cpu"``).
    """
    import torch

    if preference == "auto":
        if torch.cuda.is_available():
            return "cuda", torch.float16
        if torch.backends.mps.is_available():
            return "mps", torch.float32
        return "cpu", torch.float32
    kind = preference.split(":", 1)[0]
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise PipelineInputError(
                f"Device {preference!r} was asked for but CUDA is unavailable."
            )
        return preference, torch.float16
    if kind == "mps":
        if not torch.backends.mps.is_available():
            raise PipelineInputError("Device 'mps' was asked for but MPS is unavailable.")
        return preference, torch.float32
    if kind == "cpu":
        return "cpu", torch.float32
    raise PipelineInputError(f"Unknown device {preference!r}; use auto, cuda, cuda:N, mps or cpu.")


def load_pipeline(
    source: str, *, device: str = "auto", compile: bool = False, config: str | None = None
) -> StableDiffusionPipeline:
    """Load a Stable Diffusion 1.x/2.x pipeline and move it to its device.

    ``source`` is one of:

    - a local diffusers folder (it has a ``model_index.json``);
    - a single ``.safetensors``/``.ckpt`` checkpoint (A1111/CompVis layout). Its component
      configs come from ``config`` (a diffusers folder or hub id), else from the folder the
      file sits in if that is a diffusers folder, else diffusers guesses them from the hub;
    - a Hugging Face hub id (``org/name``), read from the local HF cache, downloading it when
      the hub is reachable. With ``HF_HUB_OFFLINE=1`` and no cached copy this fails at once.

    ``compile`` compiles the UNet with ``torch.compile``: the first renders of each new size are
    slow (compilation), the rest faster. Attention uses PyTorch's SDPA, diffusers' default.
    """
    import torch
    from diffusers import StableDiffusionPipeline

    device_name, dtype = select_device(device)
    dtype_arg = {_dtype_keyword(): dtype}
    path = Path(source).expanduser()
    try:
        if path.is_dir():
            if not (path / "model_index.json").is_file():
                raise PipelineInputError(f"{source} is a folder but not a diffusers model.")
            pipe = StableDiffusionPipeline.from_pretrained(path, **dtype_arg)
        elif path.is_file():
            if path.suffix.lower() not in SINGLE_FILE_SUFFIXES:
                raise PipelineInputError(f"{source} is not a .safetensors or .ckpt checkpoint.")
            if config is None and (path.parent / "model_index.json").is_file():
                config = str(path.parent)
            extra = {"config": config} if config else {}
            pipe = StableDiffusionPipeline.from_single_file(str(path), **dtype_arg, **extra)
        elif _HUB_ID.match(source):
            pipe = StableDiffusionPipeline.from_pretrained(source, **dtype_arg)
        else:
            raise PipelineInputError(f"Model {source!r} is neither a local path nor a hub id.")
    except OSError as exc:
        if _HUB_ID.match(source) and not path.exists():
            raise PipelineInputError(
                f"Model {source!r} is not in the local Hugging Face cache and the hub cannot be "
                f"reached (offline). Download it first (`hf download {source}`) or point "
                "SD_MODELS at a local folder or checkpoint."
            ) from exc
        raise PipelineInputError(f"Model {source!r} could not be loaded: {exc}") from exc

    pipe.to(device_name)
    pipe.set_progress_bar_config(disable=True)
    if device_name.startswith("cuda"):
        pipe.unet.to(memory_format=torch.channels_last)
    if compile:
        pipe.unet.compile()  # in place: the UNet stays a UNet2DConditionModel for from_pipe
    return pipe


def _dtype_keyword() -> str:
    """diffusers 0.42 renamed ``torch_dtype`` to ``dtype`` (the old name warns); older need it."""
    import diffusers
    from packaging.version import Version

    return "dtype" if Version(diffusers.__version__) >= Version("0.42") else "torch_dtype"


_pipelines: dict[str, tuple[tuple[str, str, bool], StableDiffusionPipeline]] = {}
_pipelines_lock = threading.Lock()


def get_pipeline(name: str) -> StableDiffusionPipeline:
    """The pipeline for a model named in ``settings.SD_MODELS``, loaded once per process.

    The GPU worker calls this for every job; only the first job of a model pays for loading.
    If the model's settings change (tests do that), the model is loaded again.
    """
    from django.conf import settings

    models: Mapping[str, str] = settings.SD_MODELS
    if name not in models:
        known = ", ".join(sorted(models)) or "none"
        raise PipelineInputError(f"Unknown model {name!r}. Available: {known}.")
    key = (str(models[name]), str(settings.SD_DEVICE), bool(settings.SD_COMPILE))
    with _pipelines_lock:  # one load at a time, and never the same model twice
        cached = _pipelines.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        logger.info("loading model %s from %s", name, key[0])
        pipe = load_pipeline(key[0], device=key[1], compile=key[2])
        _pipelines[name] = (key, pipe)
        return pipe


def clear_pipeline_cache() -> None:
    """Forget every loaded pipeline (tests; freeing GPU memory)."""
    with _pipelines_lock:
        _pipelines.clear()
        _inpaint_unets.clear()


_inpaint_unets: dict[str, tuple[tuple[str, ...], Any]] = {}


def get_inpaint_pipeline(name: str) -> StableDiffusionPipeline:
    """The pipeline that inpaints for model ``name``: the model itself, or, when
    ``settings.SD_INPAINT_MODELS`` names a dedicated inpainting checkpoint for it, the model's
    loaded VAE, text encoder and tokenizer with that checkpoint's 9-channel UNet.

    Only the UNet of the dedicated checkpoint is loaded (once per process); everything else
    is shared with the model through ``from_pipe``, so switching to inpaint costs no reload.
    """
    from diffusers import AutoPipelineForInpainting
    from django.conf import settings

    base = get_pipeline(name)
    source = settings.SD_INPAINT_MODELS.get(name)
    if not source:
        return base
    key = (str(source), str(settings.SD_DEVICE), str(settings.SD_MODELS[name]))
    with _pipelines_lock:
        cached = _inpaint_unets.get(name)
        if cached is None or cached[0] != key:
            logger.info("loading the inpainting UNet for %s from %s", name, source)
            cached = (key, _load_inpaint_unet(str(source), base))
            _inpaint_unets[name] = cached
    return AutoPipelineForInpainting.from_pipe(base, unet=cached[1])


def _load_inpaint_unet(source: str, base: StableDiffusionPipeline) -> Any:
    """The UNet of a dedicated inpainting checkpoint, on ``base``'s device and dtype."""
    from diffusers import StableDiffusionInpaintPipeline, UNet2DConditionModel

    dtype_arg = {_dtype_keyword(): base.unet.dtype}
    path = Path(source).expanduser()
    try:
        if path.is_dir():
            unet = UNet2DConditionModel.from_pretrained(path, subfolder="unet", **dtype_arg)
        elif path.is_file() and path.suffix.lower() in SINGLE_FILE_SUFFIXES:
            unet = StableDiffusionInpaintPipeline.from_single_file(str(path), **dtype_arg).unet
        else:
            raise PipelineInputError(f"Inpainting model {source!r} is not a folder or checkpoint.")
    except OSError as exc:
        raise PipelineInputError(f"Inpainting model {source!r} could not be loaded: {exc}") from exc
    if unet.config.in_channels != 9:
        raise PipelineInputError(
            f"Inpainting model {source!r} has a {unet.config.in_channels}-channel UNet, not 9."
        )
    unet.to(base.device)
    return unet

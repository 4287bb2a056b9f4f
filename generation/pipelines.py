"""The only module that runs diffusers: load Stable Diffusion 1.x/2.x pipelines and render.

Flow of one render, in diffusers' own order: check inputs, pick the scheduler, encode the
prompts (A1111 attention syntax, through compel), one seeded ``torch.Generator`` per image,
call the pipeline with a step callback for progress, previews and cancellation.

``torch``, ``diffusers``, ``transformers`` and ``compel`` are imported inside functions only, so
that the web process, which imports this module for `scheduler_names`, starts fast.

Reproducibility: the same request on the same machine (same device, dtype, torch version and
thread count) gives bit-identical pixels. Each image has its own generator seeded with its own
seed, so image *i* of a batch starts from the same noise as a render of seed *i* alone; the
batched UNet arithmetic still differs in the last bits, so pixels can differ by about 1/255.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import torch
    from diffusers import StableDiffusionPipeline
    from PIL import Image as PILImage

__all__ = [
    "SCHEDULERS",
    "GenerationCancelled",
    "PipelineInputError",
    "RenderRequest",
    "RenderResult",
    "SchedulerSpec",
    "clear_pipeline_cache",
    "get_inpaint_pipeline",
    "get_pipeline",
    "latents_to_preview",
    "load_pipeline",
    "render",
    "scheduler_names",
    "select_device",
]

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


# --- rendering -----------------------------------------------------------------------------


@dataclass
class RenderRequest:
    """Everything that decides the pixels. One image per seed; batch size is ``len(seeds)``.

    ``clip_skip`` counts as in A1111: 1 (or None) uses the text encoder's last layer, 2 the one
    before it, and so on. With ``init_image`` the render is img2img: ``strength`` (0-1, default
    0.75 as in A1111) says how much of the picture to repaint, and ``steps * strength`` steps
    run. ``init_image`` must already have the requested size.

    With ``mask_image`` too (an ``L`` image of the same size, white = repaint) the render is an
    inpaint: a 4-channel UNet keeps the unmasked latents at every step, a 9-channel one (a
    dedicated inpainting checkpoint, see `get_inpaint_pipeline`) sees the mask as input.
    Pasting the original pixels back outside the mask is the caller's business
    (`generation.canvas.canvas_compose`), since only it knows the mask's feathering.
    """

    prompt: str
    negative_prompt: str = ""
    scheduler: str = "Euler a"
    steps: int = 20
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    seeds: list[int] = field(default_factory=lambda: [0])
    clip_skip: int | None = None
    init_image: PILImage.Image | None = None
    strength: float | None = None
    mask_image: PILImage.Image | None = None


@dataclass
class RenderResult:
    """The images, in seed order, and per image whether the model's safety checker flagged it."""

    images: list[PILImage.Image]
    nsfw: list[bool]


StepCallback = Callable[[int, int, Callable[[], "PILImage.Image"]], bool]

# compel runs the shared text encoder, and clip skip briefly shortens it: one encoding at a time.
_text_encoder_lock = threading.Lock()


def render(
    pipe: StableDiffusionPipeline,
    request: RenderRequest,
    *,
    on_step: StepCallback | None = None,
) -> RenderResult:
    """Render ``request`` with ``pipe`` (from `load_pipeline` / `get_pipeline`).

    ``on_step(step, total, preview)`` runs after every denoising step (``step`` counts from 1 to
    ``total``); ``preview()`` makes a small RGB image of the current latents when called. If it
    returns a false value, rendering stops and `GenerationCancelled` is raised.

    Raises `PipelineInputError` for requests that cannot be rendered. ``pipe`` itself is never
    modified: each call works on its own pipeline object sharing ``pipe``'s weights, so calls
    from several threads do not see each other's scheduler or cancellation state.
    """
    import torch

    # The AutoPipeline classes' from_pipe, not DiffusionPipeline.from_pipe: the latter casts
    # the shared components to its dtype argument (float32 by default), in place.
    from diffusers import (
        AutoPipelineForImage2Image,
        AutoPipelineForInpainting,
        AutoPipelineForText2Image,
    )

    _validate(pipe, request)
    scheduler = _make_scheduler(pipe, request)
    strength = 0.75 if request.strength is None else request.strength
    if request.init_image is None:
        call_pipe = AutoPipelineForText2Image.from_pipe(pipe, scheduler=scheduler)
        size_or_image: dict[str, Any] = {"width": request.width, "height": request.height}
    elif request.mask_image is None:
        call_pipe = AutoPipelineForImage2Image.from_pipe(pipe, scheduler=scheduler)
        size_or_image = {"image": request.init_image.convert("RGB"), "strength": strength}
    else:
        call_pipe = AutoPipelineForInpainting.from_pipe(pipe, scheduler=scheduler)
        size_or_image = {
            "image": request.init_image.convert("RGB"),
            "mask_image": request.mask_image.convert("L"),
            "strength": strength,
            "width": request.width,
            "height": request.height,
        }
        if pipe.unet.config.in_channels == 4:
            # diffusers VAE-encodes the masked image even for a 4-channel UNet, which never
            # reads it: a second encode per call, ~10% of a small render. Zeros skip it.
            factor = call_pipe.vae_scale_factor
            size_or_image["masked_image_latents"] = torch.zeros(
                (1, 4, request.height // factor, request.width // factor),
                dtype=pipe.unet.dtype,
                device=pipe.device,
            )
    call_pipe.set_progress_bar_config(disable=True)

    positive, negative = _encode_prompts(call_pipe, request)
    generators = [torch.Generator(device=pipe.device).manual_seed(seed) for seed in request.seeds]

    cancelled = False

    def step_end(p: Any, step_index: int, _timestep: Any, tensors: dict[str, Any]) -> dict:
        nonlocal cancelled
        if on_step is None or cancelled:
            return tensors
        latents = tensors["latents"]
        if not on_step(step_index + 1, p.num_timesteps, lambda: latents_to_preview(latents)):
            cancelled = True
            p._interrupt = True  # diffusers skips the remaining steps
        return tensors

    output = call_pipe(
        prompt_embeds=positive,
        negative_prompt_embeds=negative,
        num_inference_steps=request.steps,
        guidance_scale=request.cfg_scale,
        num_images_per_prompt=len(request.seeds),
        generator=generators,
        callback_on_step_end=step_end,
        callback_on_step_end_tensor_inputs=["latents"],
        output_type="pil",
        **size_or_image,
    )
    if cancelled:
        raise GenerationCancelled()
    flagged = output.nsfw_content_detected or [False] * len(output.images)
    return RenderResult(images=list(output.images), nsfw=[bool(flag) for flag in flagged])


def _validate(pipe: StableDiffusionPipeline, request: RenderRequest) -> None:
    """Refuse what cannot be rendered, with messages a user can act on. Never 'fix' a request."""
    if not isinstance(request.prompt, str) or not isinstance(request.negative_prompt, str):
        raise PipelineInputError("The prompt and negative prompt must be text.")
    if request.scheduler not in SCHEDULERS:
        raise PipelineInputError(
            f"Unknown sampler {request.scheduler!r}. Choose one of: {', '.join(SCHEDULERS)}."
        )
    if not isinstance(request.steps, int) or request.steps < 1:
        raise PipelineInputError("Steps must be a whole number of at least 1.")
    for side, value in (("Width", request.width), ("Height", request.height)):
        if not isinstance(value, int) or value < 8 or value % 8:
            raise PipelineInputError(f"{side} must be a multiple of 8 (got {value}).")
    if not request.cfg_scale >= 0 or request.cfg_scale == float("inf"):
        raise PipelineInputError("The CFG scale must be a number of at least 0.")
    if not request.seeds:
        raise PipelineInputError("At least one seed is needed.")
    if any(not isinstance(seed, int) or not 0 <= seed <= MAX_SEED for seed in request.seeds):
        raise PipelineInputError(f"Seeds must be whole numbers from 0 to {MAX_SEED}.")
    layers = pipe.text_encoder.config.num_hidden_layers
    if request.clip_skip is not None and not 1 <= request.clip_skip <= layers:
        raise PipelineInputError(f"Clip skip must be between 1 and {layers}.")
    inpaints = pipe.unet.config.in_channels == 9
    if request.mask_image is not None and request.init_image is None:
        raise PipelineInputError("A mask needs an init image to paint on.")
    if inpaints and request.mask_image is None:
        raise PipelineInputError("This is an inpainting model: it needs an image and a mask.")
    if request.mask_image is not None and request.mask_image.size != (
        request.width,
        request.height,
    ):
        width, height = request.mask_image.size
        raise PipelineInputError(
            f"The mask is {width}x{height}, not {request.width}x{request.height}."
        )
    if request.init_image is None:
        if request.strength is not None:
            raise PipelineInputError("Denoising strength needs an init image.")
        return
    strength = 0.75 if request.strength is None else request.strength
    if not 0 < strength <= 1:
        raise PipelineInputError("Denoising strength must be above 0 and at most 1.")
    if int(request.steps * strength) < 1:
        raise PipelineInputError("Steps times denoising strength must be at least 1.")
    if request.init_image.size != (request.width, request.height):
        width, height = request.init_image.size
        raise PipelineInputError(
            f"The init image is {width}x{height}, not {request.width}x{request.height}."
        )


def _make_scheduler(pipe: StableDiffusionPipeline, request: RenderRequest) -> Any:
    """A fresh scheduler for this call, configured from the model's own scheduler config."""
    import inspect

    import diffusers

    spec = SCHEDULERS[request.scheduler]
    cls = getattr(diffusers, spec.class_name)
    overrides = dict(spec.overrides)
    if "noise_sampler_seed" in inspect.signature(cls.__init__).parameters:
        # SDE samplers draw Brownian-tree noise from their own seed: one per image, from the
        # image's seed, so the same seed gives the same image, alone or in a batch.
        overrides["noise_sampler_seed"] = list(request.seeds)
    try:
        return cls.from_config(pipe.scheduler.config, **overrides)
    except ImportError as exc:  # DPMSolverSDEScheduler without torchsde
        raise PipelineInputError(f"Sampler {request.scheduler!r} is not installed: {exc}") from exc


def _encode_prompts(
    pipe: StableDiffusionPipeline, request: RenderRequest
) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompt and negative prompt embeddings, A1111 syntax included, with no length limit.

    Prompts longer than 75 tokens are encoded in 77-token windows (split at the last comma or
    period inside the window, like A1111), and BREAK starts a new window; the two results are
    padded to the same number of windows, as diffusers needs.
    """
    import torch
    from compel import Compel
    from compel.embeddings_provider import SplitLongTextMode

    from prompts.attention import to_compel_parts

    with _text_encoder_lock, torch.no_grad(), _clip_skip(pipe.text_encoder, request.clip_skip):
        compel = Compel(
            tokenizer=pipe.tokenizer,
            text_encoder=pipe.text_encoder,
            truncate_long_prompts=False,
            split_long_text_mode=SplitLongTextMode.PHRASES,
            dtype_for_device_getter=lambda _device: pipe.text_encoder.dtype,
        )

        def encode(text: str) -> torch.Tensor:
            # Each BREAK part gets its own windows, concatenated along the token axis.
            return torch.cat([compel(part) for part in to_compel_parts(text)], dim=1)

        positive = encode(request.prompt)
        negative = encode(request.negative_prompt)
        positive, negative = compel.pad_conditioning_tensors_to_same_length([positive, negative])
    return positive, negative


@contextmanager
def _clip_skip(text_encoder: Any, clip_skip: int | None) -> Iterator[None]:
    """Temporarily drop the last ``clip_skip - 1`` layers of the text encoder.

    The final layer norm still runs on what is left, which is exactly A1111's clip skip
    (``hidden_states[-clip_skip]`` through ``final_layer_norm``). Callers hold the encoder lock.
    """
    if not clip_skip or clip_skip <= 1:
        yield
        return
    # transformers >= 5.6 flattened CLIPTextModel; older versions wrap it in ``text_model``.
    encoder = getattr(text_encoder, "text_model", text_encoder).encoder
    layers = encoder.layers
    encoder.layers = layers[: len(layers) - (clip_skip - 1)]
    try:
        yield
    finally:
        encoder.layers = layers


# A1111's "cheap approximation": SD 1.x latent channels -> RGB, a fixed linear projection.
_LATENT_RGB_FACTORS = (
    (0.298, 0.207, 0.208),
    (0.187, 0.286, 0.173),
    (-0.158, 0.189, 0.264),
    (-0.184, -0.271, -0.473),
)


def latents_to_preview(latents: torch.Tensor) -> PILImage.Image:
    """A small RGB picture of SD 1.x latents (1/8 of the image side), without running the VAE.

    A batch is laid out side by side. Costs well under a millisecond at 512x512.
    """
    import torch
    from PIL import Image as PILImage

    factors = torch.tensor(_LATENT_RGB_FACTORS, dtype=torch.float32, device=latents.device)
    rgb = torch.einsum("bchw,cr->brhw", latents.float(), factors)
    rgb = ((rgb + 1) / 2).clamp(0, 1)
    strip = torch.cat(list(rgb), dim=2)  # (3, h, w * batch)
    pixels = (strip.permute(1, 2, 0) * 255).round().to(torch.uint8).cpu().numpy()
    return PILImage.fromarray(pixels, "RGB")

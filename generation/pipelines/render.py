"""One render, in diffusers' own order: check inputs, pick the scheduler, encode the prompts
(A1111 attention syntax, through compel; a blend mixes several prompts' embeddings), one seeded
generator per image, call the pipeline with a step callback for progress, previews and
cancellation."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from diffusers import StableDiffusionPipeline
    from PIL import Image as PILImage

from generation.pipelines.blend import blend_weights_check, embeddings_blend
from generation.pipelines.loading import (
    MAX_SEED,
    SCHEDULERS,
    GenerationCancelled,
    PipelineInputError,
)


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

    With ``blend`` (``[(prompt, weight), ...]``, two or more) the conditioning is those
    prompts' embeddings mixed by `embeddings_blend`, and ``prompt`` is only a label.
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
    blend: list[tuple[str, float]] | None = None


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
    if request.blend is not None:
        if len(request.blend) < 2:
            raise PipelineInputError("A blend needs at least two prompts.")
        if any(not isinstance(text, str) for text, _ in request.blend):
            raise PipelineInputError("The prompts of a blend must be text.")
        try:
            blend_weights_check([weight for _, weight in request.blend])
        except ValueError as exc:
            raise PipelineInputError(str(exc)) from None
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

        negative = encode(request.negative_prompt)
        if request.blend is None:
            positive, negative = compel.pad_conditioning_tensors_to_same_length(
                [encode(request.prompt), negative]
            )
            return positive, negative
        # Each source alone, then all padded to one length (prompts over 77 tokens have more
        # windows), so the token positions line up before they are mixed.
        *sources, negative = compel.pad_conditioning_tensors_to_same_length(
            [*(encode(text) for text, _ in request.blend), negative]
        )
    positive = embeddings_blend(sources, [weight for _, weight in request.blend])
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

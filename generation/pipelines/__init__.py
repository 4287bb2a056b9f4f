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

The package: `loading` (devices, samplers, loading and the per-process cache) and `render`.
"""

from generation.pipelines.loading import (
    MAX_SEED,
    SCHEDULERS,
    GenerationCancelled,
    PipelineInputError,
    SchedulerSpec,
    clear_pipeline_cache,
    get_inpaint_pipeline,
    get_pipeline,
    load_pipeline,
    scheduler_names,
    select_device,
)
from generation.pipelines.render import (
    RenderRequest,
    RenderResult,
    _encode_prompts,
    latents_to_preview,
    render,
)

__all__ = [
    "MAX_SEED",
    "SCHEDULERS",
    "GenerationCancelled",
    "PipelineInputError",
    "RenderRequest",
    "RenderResult",
    "SchedulerSpec",
    "_encode_prompts",  # the tests check prompt encoding on its own
    "clear_pipeline_cache",
    "get_inpaint_pipeline",
    "get_pipeline",
    "latents_to_preview",
    "load_pipeline",
    "render",
    "scheduler_names",
    "select_device",
]

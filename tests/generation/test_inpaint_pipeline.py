"""Inpainting in the diffusers layer, on the tiny real models (4- and 9-channel UNets).

No database: these call `generation.pipelines` directly, at 64x64 with a few steps.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage

from generation import pipelines
from generation.pipelines import PipelineInputError, RenderRequest, load_pipeline, render

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def dedicated(settings, tiny_inpaint_model_dir):
    """The tiny model's family configured with its 9-channel inpainting checkpoint."""
    settings.SD_DEVICE = "cpu"
    settings.SD_INPAINT_MODELS = {"tiny-test": str(tiny_inpaint_model_dir)}
    pipelines.clear_pipeline_cache()
    yield
    pipelines.clear_pipeline_cache()


def source_image() -> PILImage.Image:
    values = np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    return PILImage.fromarray(values, "RGB")


def a_mask() -> PILImage.Image:
    mask = PILImage.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    return mask


def an_inpaint(**fields) -> RenderRequest:
    defaults = {
        "prompt": "a red fox in the snow",
        "steps": 4,
        "width": 64,
        "height": 64,
        "seeds": [42],
        "init_image": source_image(),
        "mask_image": a_mask(),
        "strength": 0.75,
    }
    return RenderRequest(**{**defaults, **fields})


def pixels(image: PILImage.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_a_4_channel_model_inpaints_through_from_pipe_without_a_reload(pipe, monkeypatch):
    from diffusers import (
        AutoPipelineForInpainting,
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
    )

    made = []
    original = AutoPipelineForInpainting.from_pipe

    def spy(*args, **kwargs):
        made.append(original(*args, **kwargs))
        return made[-1]

    def reload(*args, **kwargs):
        raise AssertionError("inpaint must not load the model again")

    monkeypatch.setattr(AutoPipelineForInpainting, "from_pipe", spy)
    for loader in ("from_pretrained", "from_single_file"):
        monkeypatch.setattr(StableDiffusionPipeline, loader, reload)
        monkeypatch.setattr(StableDiffusionInpaintPipeline, loader, reload)

    steps = []
    result = render(
        pipe, an_inpaint(), on_step=lambda step, total, preview: steps.append(step) or True
    )
    assert steps == [1, 2, 3]  # 4 steps x strength 0.75
    assert made and all(p.unet is pipe.unet and p.vae is pipe.vae for p in made)
    assert all(isinstance(p, StableDiffusionInpaintPipeline) for p in made)
    image = pixels(result.images[0])
    assert image.shape == (64, 64, 3)
    inside = np.abs(image[20:44, 20:44] - pixels(source_image())[20:44, 20:44]).mean()
    assert inside > 20  # the masked square was repainted
    again = render(pipe, an_inpaint())
    assert np.array_equal(pixels(again.images[0]), image)
    other = render(pipe, an_inpaint(prompt="a blue owl at night"))
    assert not np.array_equal(pixels(other.images[0]), image)


def test_a_mask_covering_everything_behaves_as_img2img(pipe):
    full = PILImage.new("L", (64, 64), 255)
    result = render(pipe, an_inpaint(mask_image=full))
    assert result.images[0].size == (64, 64)
    assert np.abs(pixels(result.images[0]) - pixels(source_image())).mean() > 20


def test_without_a_dedicated_checkpoint_the_model_itself_inpaints(settings, pipe):
    settings.SD_DEVICE = "cpu"
    pipelines.clear_pipeline_cache()
    try:
        assert pipelines.get_inpaint_pipeline("tiny-test") is pipelines.get_pipeline("tiny-test")
    finally:
        pipelines.clear_pipeline_cache()


def test_a_configured_inpainting_checkpoint_is_used_for_its_model_family(
    dedicated, pipe, monkeypatch, tiny_inpaint_model_dir
):
    from diffusers import UNet2DConditionModel

    loads = []
    real = UNet2DConditionModel.from_pretrained.__func__

    def counting(cls, *args, **kwargs):
        loads.append(args)
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(UNet2DConditionModel, "from_pretrained", classmethod(counting))
    base = pipelines.get_pipeline("tiny-test")
    inpainter = pipelines.get_inpaint_pipeline("tiny-test")
    assert inpainter.unet.config.in_channels == 9 and base.unet.config.in_channels == 4
    # Everything but the UNet is the loaded model's own.
    assert inpainter.vae is base.vae and inpainter.text_encoder is base.text_encoder
    assert pipelines.get_inpaint_pipeline("tiny-test").unet is inpainter.unet
    # The 9-channel UNet loads once per process (the base model's own UNet loaded first).
    assert [str(args[0]) for args in loads[1:]] == [str(tiny_inpaint_model_dir)]
    nine = pixels(render(inpainter, an_inpaint()).images[0])
    four = pixels(render(pipe, an_inpaint()).images[0])
    assert nine.shape == (64, 64, 3) and not np.array_equal(nine, four)


def test_a_dedicated_inpainting_model_refuses_to_render_without_a_mask(dedicated):
    inpainter = pipelines.get_inpaint_pipeline("tiny-test")
    with pytest.raises(PipelineInputError, match="needs an image and a mask"):
        render(inpainter, an_inpaint(mask_image=None))


def test_a_checkpoint_that_is_not_an_inpainting_model_is_refused(settings, tiny_model_dir):
    settings.SD_DEVICE = "cpu"
    settings.SD_INPAINT_MODELS = {"tiny-test": str(tiny_model_dir)}
    pipelines.clear_pipeline_cache()
    try:
        with pytest.raises(PipelineInputError, match="4-channel UNet, not 9"):
            pipelines.get_inpaint_pipeline("tiny-test")
    finally:
        pipelines.clear_pipeline_cache()


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"init_image": None}, "needs an init image"),
        ({"mask_image": PILImage.new("L", (32, 32), 255)}, "The mask is 32x32, not 64x64"),
    ],
)
def test_an_inpaint_that_cannot_be_rendered_is_refused_clearly(pipe, fields, message):
    with pytest.raises(PipelineInputError, match=message):
        render(pipe, an_inpaint(**fields))


def test_inpainting_leaves_the_loaded_models_dtype_alone(tiny_model_dir):
    # DiffusionPipeline.from_pipe casts the shared components to float32 by default; a GPU
    # worker's fp16 model would silently become float32. bfloat16 stands in for fp16 on a CPU.
    import torch

    half = load_pipeline(str(tiny_model_dir), device="cpu")
    half.to(dtype=torch.bfloat16)
    result = render(half, an_inpaint(steps=2))
    assert result.images[0].size == (64, 64)
    assert half.unet.dtype == torch.bfloat16 and half.vae.dtype == torch.bfloat16
    assert half.text_encoder.dtype == torch.bfloat16

"""The diffusers layer, on the tiny real model: what a user would notice in the pictures.

No database: these call `generation.pipelines` directly. Images are 64x64 with 2-4 steps.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from generation import pipelines
from generation.pipelines import (
    GenerationCancelled,
    PipelineInputError,
    RenderRequest,
    latents_to_preview,
    load_pipeline,
    render,
    scheduler_names,
    select_device,
)
from generation.testmodel import build_test_model, single_file_path

ROOT = Path(__file__).resolve().parents[2]

# Single-token words of the tiny model's vocabulary, for prompts of a known token length.
WORDS = ["red", "blue", "cat", "dog", "fox", "owl", "sky", "sea", "moon", "sun", "star", "tree"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def a_request(**fields) -> RenderRequest:
    defaults = {
        "prompt": "a red fox in the snow",
        "negative_prompt": "blurry",
        "scheduler": "Euler a",
        "steps": 3,
        "cfg_scale": 7.0,
        "width": 64,
        "height": 64,
        "seeds": [42],
    }
    return RenderRequest(**{**defaults, **fields})


def pixels(image: PILImage.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def render_pixels(pipe, **fields) -> np.ndarray:
    return pixels(render(pipe, a_request(**fields)).images[0])


# --- reproducibility -------------------------------------------------------------------------


@pytest.mark.parametrize("scheduler", ["Euler a", "DPM++ SDE Karras", "DDIM"])
def test_the_same_seed_and_parameters_give_identical_pixels(pipe, scheduler):
    first = render_pixels(pipe, scheduler=scheduler)
    second = render_pixels(pipe, scheduler=scheduler)
    assert np.array_equal(first, second)


def test_a_fresh_process_renders_bit_identical_pixels(pipe, tiny_model_dir):
    import torch

    here = hashlib.sha256(render_pixels(pipe).tobytes()).hexdigest()
    code = (
        "import hashlib, sys, torch, numpy as np;"
        f"torch.set_num_threads({torch.get_num_threads()});"
        "from generation.pipelines import load_pipeline, render, RenderRequest;"
        f"pipe = load_pipeline({str(tiny_model_dir)!r}, device='cpu');"
        "image = render(pipe, RenderRequest(prompt='a red fox in the snow', negative_prompt="
        "'blurry', scheduler='Euler a', steps=3, cfg_scale=7.0, width=64, height=64, "
        "seeds=[42])).images[0];"
        "print(hashlib.sha256(np.asarray(image.convert('RGB'), dtype=np.int16).tobytes())"
        ".hexdigest())"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == here


def test_different_seeds_give_different_images(pipe):
    assert not np.array_equal(render_pixels(pipe, seeds=[1]), render_pixels(pipe, seeds=[2]))


def test_a_batch_matches_rendering_each_seed_alone_to_within_one_level(pipe):
    batch = render(pipe, a_request(seeds=[7, 8]))
    assert len(batch.images) == 2 and batch.nsfw == [False, False]
    for image, seed in zip(batch.images, [7, 8], strict=True):
        alone = render_pixels(pipe, seeds=[seed])
        # Same starting noise; batched arithmetic differs only in the last bits.
        assert np.abs(pixels(image) - alone).max() <= 1
    assert not np.array_equal(pixels(batch.images[0]), pixels(batch.images[1]))


# --- samplers and validation -------------------------------------------------------------------


@pytest.mark.parametrize("scheduler", scheduler_names())
def test_every_sampler_renders_a_picture(pipe, scheduler):
    result = render(pipe, a_request(scheduler=scheduler, steps=3))
    image = result.images[0]
    assert (image.size, image.mode) == ((64, 64), "RGB")
    assert pixels(image).std() > 0  # not a blank frame
    assert result.nsfw == [False]


def test_the_sampler_list_is_exactly_the_supported_a1111_names():
    assert scheduler_names() == [
        "Euler",
        "Euler a",
        "DPM++ 2M",
        "DPM++ 2M Karras",
        "DPM++ SDE Karras",
        "DDIM",
        "UniPC",
        "LMS",
        "Heun",
        "PNDM",
    ]


def test_samplers_differ_from_each_other(pipe):
    assert not np.array_equal(
        render_pixels(pipe, scheduler="Euler"), render_pixels(pipe, scheduler="DPM++ 2M Karras")
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"scheduler": "Euler z"}, "Unknown sampler 'Euler z'"),
        ({"width": 65}, "Width must be a multiple of 8 (got 65)"),
        ({"height": 0}, "Height must be a multiple of 8"),
        ({"steps": 0}, "Steps must be"),
        ({"seeds": []}, "At least one seed"),
        ({"seeds": [-1]}, "Seeds must be whole numbers"),
        ({"cfg_scale": float("nan")}, "CFG scale"),
        ({"clip_skip": 99}, "Clip skip must be between 1 and 4"),
        ({"strength": 0.5}, "needs an init image"),
    ],
)
def test_a_request_that_cannot_be_rendered_is_refused_clearly(pipe, fields, message):
    with pytest.raises(PipelineInputError, match=re.escape(message)):
        render(pipe, a_request(**fields))


# --- prompts -----------------------------------------------------------------------------------


def test_an_attention_weight_changes_the_image(pipe):
    plain = render_pixels(pipe, prompt="a cat")
    assert not np.array_equal(render_pixels(pipe, prompt="a (cat:1.5)"), plain)
    # The syntax is parsed, not passed on as text: weight 1 is the plain prompt.
    assert np.array_equal(render_pixels(pipe, prompt="a (cat:1)"), plain)


def test_a_prompt_longer_than_77_tokens_is_not_truncated(pipe):
    words = [WORDS[i % len(WORDS)] for i in range(120)]
    long, first_75 = " ".join(words), " ".join(words[:75])  # 75 tokens + start + end = 77
    assert len(pipe.tokenizer(long).input_ids) == 122

    positive, negative = pipelines._encode_prompts(pipe, a_request(prompt=long))
    assert positive.shape[1] == negative.shape[1] == 154  # two 77-token windows
    positive, _ = pipelines._encode_prompts(pipe, a_request(prompt=first_75))
    assert positive.shape[1] == 77
    assert not np.array_equal(
        render_pixels(pipe, prompt=long), render_pixels(pipe, prompt=first_75)
    )


def test_break_starts_a_new_77_token_window(pipe):
    positive, _ = pipelines._encode_prompts(pipe, a_request(prompt="a cat BREAK a dog"))
    assert positive.shape[1] == 154
    assert not np.array_equal(
        render_pixels(pipe, prompt="a cat BREAK a dog"), render_pixels(pipe, prompt="a cat a dog")
    )


def test_clip_skip_changes_the_image_and_leaves_the_text_encoder_whole(pipe):
    plain = render_pixels(pipe)
    assert not np.array_equal(render_pixels(pipe, clip_skip=2), plain)
    assert np.array_equal(render_pixels(pipe, clip_skip=1), plain)  # A1111: 1 means none
    assert len(pipe.text_encoder.encoder.layers) == 4
    assert np.array_equal(render_pixels(pipe), plain)


def test_the_tokenizer_reads_any_text(pipe):
    tokenizer = pipe.tokenizer
    assert tokenizer.model_max_length == 77
    assert len(tokenizer.tokenize("a portrait of a cat")) == 5  # common words are one token
    ids = tokenizer("xylophone café 🐱 日本").input_ids
    assert len(ids) > 6 and ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id


# --- progress and cancellation -------------------------------------------------------------------


def test_on_step_reports_every_step_with_a_preview(pipe):
    calls = []

    def on_step(step, total, preview):
        calls.append((step, total, preview()))
        return True

    render(pipe, a_request(steps=4, seeds=[1, 2]), on_step=on_step)
    assert [(step, total) for step, total, _ in calls] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    previews = [preview for _, _, preview in calls]
    assert all(p.mode == "RGB" and p.size == (16, 8) for p in previews)  # two 8x8 latents
    assert not np.array_equal(pixels(previews[0]), pixels(previews[-1]))


def test_returning_false_from_on_step_cancels_the_render(pipe):
    steps = []

    def on_step(step, total, preview):
        steps.append(step)
        return step < 2

    with pytest.raises(GenerationCancelled):
        render(pipe, a_request(steps=4), on_step=on_step)
    assert steps == [1, 2]
    # The shared pipeline is not left interrupted.
    assert render(pipe, a_request(steps=2)).images


def test_the_preview_is_a_linear_projection_of_the_latents():
    import torch

    zero = latents_to_preview(torch.zeros(1, 4, 8, 8))
    assert zero.size == (8, 8) and (np.asarray(zero) == 128).all()
    assert latents_to_preview(torch.zeros(3, 4, 8, 6)).size == (18, 8)


# --- img2img -----------------------------------------------------------------------------------


def test_img2img_repaints_the_init_image_with_the_same_weights(pipe, monkeypatch):
    from diffusers import AutoPipelineForImage2Image, StableDiffusionPipeline

    init = render(pipe, a_request(seeds=[5])).images[0]
    made = []
    original = AutoPipelineForImage2Image.from_pipe

    def spy(*args, **kwargs):
        made.append(original(*args, **kwargs))
        return made[-1]

    def reload(*args, **kwargs):
        raise AssertionError("img2img must not load the model again")

    monkeypatch.setattr(AutoPipelineForImage2Image, "from_pipe", spy)
    monkeypatch.setattr(StableDiffusionPipeline, "from_pretrained", reload)
    monkeypatch.setattr(StableDiffusionPipeline, "from_single_file", reload)

    steps = []
    light = render(
        pipe,
        a_request(init_image=init, strength=0.5, steps=4),
        on_step=lambda step, total, preview: steps.append((step, total)) or True,
    )
    assert steps == [(1, 2), (2, 2)]  # strength 0.5 runs half the steps
    heavy = render(pipe, a_request(init_image=init, strength=1.0, steps=4))
    assert light.images[0].size == (64, 64)
    assert not np.array_equal(pixels(light.images[0]), pixels(heavy.images[0]))
    assert not np.array_equal(pixels(light.images[0]), pixels(init))
    again = render(pipe, a_request(init_image=init, strength=0.5, steps=4))
    assert np.array_equal(pixels(again.images[0]), pixels(light.images[0]))
    assert made and all(p.unet is pipe.unet and p.vae is pipe.vae for p in made)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"strength": 0.1, "steps": 4}, "Steps times denoising strength"),
        ({"strength": 1.5}, "above 0 and at most 1"),
        ({"width": 128}, "init image is 64x64, not 128x64"),
    ],
)
def test_img2img_refuses_what_it_cannot_do(pipe, fields, message):
    init = PILImage.new("RGB", (64, 64), (200, 60, 30))
    with pytest.raises(PipelineInputError, match=message):
        render(pipe, a_request(init_image=init, **fields))


# --- loading -------------------------------------------------------------------------------------


def test_a_single_file_checkpoint_loads_to_the_same_model(pipe, tiny_model_dir):
    checkpoint = single_file_path(tiny_model_dir)
    assert checkpoint.is_file()
    from_file = load_pipeline(str(checkpoint), device="cpu")
    assert np.array_equal(render_pixels(from_file), render_pixels(pipe))


def test_a_hub_model_that_is_not_cached_fails_fast_when_offline():
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # tests/conftest.py
    started = time.monotonic()
    with pytest.raises(PipelineInputError, match="not in the local Hugging Face cache"):
        load_pipeline("atelier-tests/no-such-model", device="cpu")
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("/nonexistent/model.safetensors", "neither a local path nor a hub id"),
        (".", "folder but not a diffusers model"),
    ],
)
def test_a_source_that_is_not_a_model_is_refused(source, message):
    with pytest.raises(PipelineInputError, match=message):
        load_pipeline(source, device="cpu")


def test_get_pipeline_loads_each_model_once_per_process(settings, monkeypatch, tiny_model_dir):
    settings.SD_DEVICE = "cpu"
    loads = []
    real_load = pipelines.load_pipeline

    def counting_load(*args, **kwargs):
        loads.append(args)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(pipelines.loading, "load_pipeline", counting_load)
    pipelines.clear_pipeline_cache()
    try:
        first = pipelines.get_pipeline("tiny-test")
        assert pipelines.get_pipeline("tiny-test") is first
        assert loads == [(str(tiny_model_dir),)]
        with pytest.raises(
            PipelineInputError, match=r"Unknown model 'nope'\. Available: tiny-test"
        ):
            pipelines.get_pipeline("nope")
    finally:
        pipelines.clear_pipeline_cache()


@pytest.mark.gpu
def test_cuda_renders_in_fp16_and_repeats_itself(tiny_model_dir):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    cuda = load_pipeline(str(tiny_model_dir), device="auto")
    assert cuda.device.type == "cuda" and cuda.unet.dtype == torch.float16
    first = render(cuda, a_request(seeds=[1, 2]), on_step=lambda s, t, preview: bool(preview()))
    second = render(cuda, a_request(seeds=[1, 2]))
    assert all(
        np.array_equal(pixels(a), pixels(b))
        for a, b in zip(first.images, second.images, strict=True)
    )


def test_devices_are_chosen_with_their_dtype():
    import torch

    assert select_device("cpu") == ("cpu", torch.float32)
    with pytest.raises(PipelineInputError, match="Unknown device 'tpu'"):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(PipelineInputError, match="CUDA is unavailable"):
            select_device("cuda")


# --- the test model itself ---------------------------------------------------------------------


def test_building_the_test_model_twice_with_one_seed_gives_identical_files(tmp_path):
    def files(folder: Path) -> dict[str, bytes]:
        return {
            str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*"))
            if path.is_file()
        }

    first = files(build_test_model(tmp_path / "a", seed=3))
    assert files(build_test_model(tmp_path / "b", seed=3)) == first
    assert "model_index.json" in first and "tokenizer/vocab.json" in first
    other = files(build_test_model(tmp_path / "c", seed=4))
    weights = "unet/diffusion_pytorch_model.safetensors"
    assert other[weights] != first[weights]
    assert other["tokenizer/tokenizer.json"] == first["tokenizer/tokenizer.json"]


def test_make_test_model_builds_once_and_rebuilds_on_force(tmp_path):
    from django.core.management import CommandError, call_command

    target = tmp_path / "tiny"
    out = StringIO()
    call_command("make_test_model", str(target), "--seed", "1", stdout=out)
    assert (target / "model_index.json").is_file()
    assert f"Built the tiny test model in {target}" in out.getvalue()

    built = (target / "unet/diffusion_pytorch_model.safetensors").stat().st_mtime_ns
    out = StringIO()
    call_command("make_test_model", str(target), stdout=out)
    assert "already" in out.getvalue()
    assert (target / "unet/diffusion_pytorch_model.safetensors").stat().st_mtime_ns == built

    call_command("make_test_model", str(target), "--force", stdout=StringIO())
    assert (target / "model_index.json").is_file()

    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    with pytest.raises(CommandError, match="not empty"):
        call_command("make_test_model", str(tmp_path / "precious"), stdout=StringIO())
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"

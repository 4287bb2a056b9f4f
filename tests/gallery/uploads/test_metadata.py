"""Prompt and settings are read right from each tool's files."""

from __future__ import annotations

import json

import pytest

from gallery.uploads.metadata import metadata_read
from gallery.uploads.reproducibility import (
    RUNNABLE_SAMPLERS,
    reproducibility_assess,
    sampler_a1111_name,
)
from gallery.uploads.safety import image_decode_untrusted
from tests.gallery.uploads import files


def read(data: bytes) -> dict:
    decoded = image_decode_untrusted(data=data, max_pixels=40_000_000)
    return metadata_read(chunks=decoded.chunks)


def assert_a1111_fields(meta: dict) -> None:
    assert meta["prompt"] == "masterpiece, (a red fox:1.2) in the snow, <lora:add_detail:0.8>"
    assert meta["negative_prompt"] == "blurry, lowres, (worst quality:1.4)"
    assert (meta["steps"], meta["cfg_scale"], meta["seed"]) == (28, 6.5, 1234567890)
    assert (meta["width"], meta["height"], meta["clip_skip"]) == (512, 768, 2)
    assert meta["scheduler"] == "DPM++ 2M Karras"
    assert (meta["model"], meta["model_hash"]) == ("v1-5-pruned-emaonly", "6ce0161689")
    extra = meta["extra"]
    assert extra["Lora hashes"] == "add_detail: 7c6bad76eb54"
    assert extra["TI hashes"] == "easynegative: c74b4e810b03, bad-hands: 1a2b3c4d5e6f"
    assert json.loads(extra["Hashes"]) == {
        "model": "6ce0161689",
        "lora:add_detail": "7c6bad76eb54",
    }
    assert extra["Version"] == "v1.10.1"


def test_it_reads_every_key_of_an_a1111_png_parameters_chunk():
    meta = read(files.png(text={"parameters": files.A1111_INFOTEXT}))
    assert meta["generator"] == "automatic1111"
    assert_a1111_fields(meta)


def test_it_reads_an_a1111_jpeg_from_its_exif_user_comment():
    meta = read(files.jpeg(comment=files.A1111_INFOTEXT))
    assert meta["generator"] == "automatic1111"
    assert_a1111_fields(meta)


def test_it_reads_a_forge_webp_from_its_exif_user_comment():
    meta = read(files.webp(comment=files.FORGE_INFOTEXT))
    assert meta["generator"] == "forge"
    assert meta["prompt"] == "a lighthouse on a cliff, stormy sea"
    assert meta["scheduler"] == "Euler a"  # "Schedule type: Automatic" adds nothing
    assert (meta["width"], meta["height"], meta["seed"]) == (1024, 1024, 42)


def test_a_multiline_a1111_prompt_keeps_its_lines_and_its_negative_part():
    text = "line one\nline two\nNegative prompt: bad\nworse\nSteps: 5, Sampler: Euler, Seed: 1"
    meta = read(files.png(text={"parameters": text}))
    assert meta["prompt"] == "line one\nline two"
    assert meta["negative_prompt"] == "bad\nworse"


def test_it_follows_a_comfyui_sampler_through_reroutes_to_its_prompts_and_checkpoint():
    meta = read(files.comfyui_png())
    assert meta["generator"] == "comfyui"
    assert meta["prompt"] == "a lighthouse at dusk, oil painting"
    assert meta["negative_prompt"] == "blurry, watermark"
    assert meta["model"] == "dreamshaper_8.safetensors"
    assert meta["extra"]["Lora"] == "add_detail.safetensors: 0.8"
    # The first pass (from the empty latent), not the hires pass, with its seed node resolved.
    assert (meta["steps"], meta["cfg_scale"], meta["seed"]) == (30, 7.0, 987654321)
    assert meta["scheduler"] == "DPM++ 2M Karras"
    assert (meta["width"], meta["height"]) == (512, 768)


def test_it_reads_a_comfyui_flux_graph_through_its_guidance_node():
    meta = read(files.comfyui_png(files.flux_graph()))
    assert meta["prompt"] == "a cat astronaut, photo"
    assert meta["model"] == "flux1-dev.safetensors"
    assert (meta["seed"], meta["steps"], meta["scheduler"]) == (555, 20, "Euler")
    assert meta["extra"]["Guidance"] == "3.5"
    assert (meta["width"], meta["height"]) == (1024, 768)


def test_it_reads_invokeai_metadata():
    meta = read(files.invokeai_png())
    assert meta["generator"] == "invokeai"
    assert meta["prompt"] == "a misty forest at dawn, volumetric light"
    assert meta["negative_prompt"] == "lowres, jpeg artifacts"
    assert (meta["model"], meta["scheduler"]) == ("Juggernaut XL v9", "DPM++ 2M Karras")
    assert (meta["steps"], meta["cfg_scale"], meta["seed"]) == (32, 6.0, 2204781145)


@pytest.mark.parametrize(
    "chunks",
    [{"sd-metadata": json.dumps(files.SD_METADATA)}, {"Dream": files.DREAM}],
    ids=["sd-metadata", "Dream"],
)
def test_it_reads_the_older_invokeai_forms_with_the_negative_prompt_in_brackets(chunks):
    meta = read(files.png(text=chunks))
    assert (meta["generator"], meta["prompt"]) == ("invokeai", "a castle on a hill")
    assert meta["negative_prompt"] == "fog, blurry"
    assert (meta["steps"], meta["seed"], meta["cfg_scale"]) == (50, 3357757885, 7.5)
    assert (meta["scheduler"], meta["width"]) == ("LMS", 512)


def test_it_reads_fooocus():
    meta = read(files.fooocus_png())
    assert meta["generator"] == "fooocus"
    assert (meta["prompt"], meta["negative_prompt"]) == ("a cat wearing a wizard hat", "ugly")
    assert meta["model"] == "juggernautXL_v8Rundiffusion.safetensors"
    assert (meta["width"], meta["height"], meta["cfg_scale"]) == (1152, 896, 4.0)
    assert (meta["seed"], meta["scheduler"]) == (8613547393461716, "DPM++ 2M SDE Karras")
    assert meta["extra"]["styles"] == "['Fooocus V2', 'Fooocus Enhance', 'Fooocus Sharp']"


def test_it_reads_novelai():
    meta = read(files.novelai_png())
    assert meta["generator"] == "novelai"
    assert meta["prompt"] == "1girl, silver hair, night city, neon"
    assert meta["negative_prompt"] == "lowres, bad anatomy, bad hands"
    assert (meta["model"], meta["model_hash"]) == ("Stable Diffusion XL", "C1E1DE52")
    assert (meta["scheduler"], meta["cfg_scale"], meta["seed"]) == ("Euler a", 5.0, 1668787245)


def test_a_file_without_metadata_gives_empty_fields():
    meta = read(files.png())
    assert meta["generator"] == "" and meta["prompt"] == "" and meta["steps"] is None


@pytest.mark.parametrize(
    ("sampler", "schedule", "expected"),
    [
        ("euler_ancestral", "normal", "Euler a"),
        ("dpmpp_2m", "karras", "DPM++ 2M Karras"),
        ("dpmpp_2m_k", "", "DPM++ 2M Karras"),
        ("k_euler_ancestral", "native", "Euler a"),
        ("uni_pc", "", "UniPC"),
        ("my_custom_sampler", "", "my_custom_sampler"),
    ],
)
def test_tool_sampler_names_become_a1111_names(sampler, schedule, expected):
    assert sampler_a1111_name(sampler=sampler, schedule=schedule) == expected


FULL = {
    "prompt": "a fox",
    "model": "tiny-test.safetensors",
    "scheduler": "Euler a",
    "steps": 20,
    "cfg_scale": 7.0,
    "seed": 1,
    "width": 64,
    "height": 64,
}


@pytest.mark.parametrize(
    ("changes", "verdict"),
    [
        ({}, "reproducible"),
        ({"scheduler": "DPM++ 3M SDE Exponential"}, "partial"),
        ({"model": "some-model-we-do-not-have"}, "partial"),
        ({"seed": None}, "partial"),
        ({"prompt": ""}, "no"),
    ],
)
def test_reproducibility_needs_every_setting_a_runnable_sampler_and_a_model_we_have(
    changes, verdict
):
    assessment = reproducibility_assess(metadata={**FULL, **changes}, models={"tiny-test": "x"})
    assert assessment["verdict"] == verdict


def test_reproducibility_lists_what_is_known_and_missing():
    assessment = reproducibility_assess(metadata={"prompt": "a fox", "steps": 5}, models={})
    assert assessment["known"] == ["steps"]
    assert "seed" in assessment["missing"] and assessment["verdict"] == "partial"


def test_every_sampler_called_reproducible_is_one_the_worker_can_run():
    pipelines = pytest.importorskip("generation.pipelines")
    assert set(RUNNABLE_SAMPLERS) <= set(pipelines.scheduler_names())

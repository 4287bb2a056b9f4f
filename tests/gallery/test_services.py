"""Storing images: files, thumbnails, the PNG parameters chunk, idempotency, prompt rows."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from gallery.params import GenerationParams
from gallery.services import image_create
from prompts.models import Prompt
from tests.conftest import pixels

pytestmark = pytest.mark.django_db


def test_an_image_is_stored_under_a_server_made_name_with_webp_thumbnails(alice):
    image = image_create(
        owner=alice, pixels=pixels(1024, 512), params=GenerationParams(prompt="a wide castle")
    )
    assert image.file.name.startswith("images/") and image.file.name.endswith(".png")
    with default_storage.open(image.thumb_small.name) as handle:
        small = PILImage.open(handle)
        assert small.format == "WEBP" and small.size == (256, 128)
    with default_storage.open(image.thumb_large.name) as handle:
        assert PILImage.open(handle).size == (768, 384)
    assert (image.width, image.height) == (1024, 512)
    assert len(image.sha256) == 64


def test_the_same_origin_key_stores_once(alice):
    params = GenerationParams(prompt="a lighthouse")
    first = image_create(owner=alice, pixels=pixels(), params=params, origin_key="job:1:0")
    second = image_create(owner=alice, pixels=pixels(), params=params, origin_key="job:1:0")
    assert first.id == second.id
    assert alice.images.count() == 1


def test_prompts_differing_only_in_case_and_spacing_share_one_row(alice):
    a = image_create(owner=alice, pixels=pixels(), params=GenerationParams(prompt="A Cat ,  cute"))
    b = image_create(owner=alice, pixels=pixels(), params=GenerationParams(prompt="a cat, cute"))
    c = image_create(
        owner=alice,
        pixels=pixels(),
        params=GenerationParams(prompt="a cat, cute", negative_prompt="x"),
    )
    assert a.prompt_id == b.prompt_id != c.prompt_id
    assert Prompt.objects.count() == 2


def test_infotext_quotes_values_that_would_break_the_line():
    params = GenerationParams(
        prompt="p",
        steps=30,
        scheduler="DPM++ 2M Karras",
        cfg_scale=7.5,
        seed=1,
        width=512,
        height=768,
        model_name="my, model",
        clip_skip=2,
        extra={"Denoising strength": 0.35},
    )
    assert params.infotext() == (
        "p\nSteps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7.5, Seed: 1, Size: 512x768, "
        'Model: "my, model", Clip skip: 2, Denoising strength: 0.35'
    )

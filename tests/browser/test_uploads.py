"""Uploading A1111 and ComfyUI PNGs: the form comes pre-filled from the file, then publishes."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.gallery.uploads import files

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

A1111 = {
    "prompt": "masterpiece, (a red fox:1.2) in the snow, <lora:add_detail:0.8>",
    "negative_prompt": "blurry, lowres, (worst quality:1.4)",
    "model": "v1-5-pruned-emaonly",
    "model_hash": "6ce0161689",
    "scheduler": "DPM++ 2M Karras",
    "steps": "28",
    "cfg_scale": "6.5",
    "seed": "1234567890",
    "width": "512",
    "height": "768",
    "clip_skip": "2",
}
COMFYUI = {
    "prompt": "a lighthouse at dusk, oil painting",
    "negative_prompt": "blurry, watermark",
    "model": "dreamshaper_8.safetensors",
    "scheduler": "DPM++ 2M Karras",
    "steps": "30",
    "cfg_scale": "7",
    "seed": "987654321",
    "width": "512",
    "height": "768",
}


def test_uploaded_pngs_prefill_the_form_and_publish_to_the_gallery(site, alice):
    site.login_as(alice)
    page = site.go("/upload/")
    page.set_input_files(
        "#upload-input",
        files=[
            {
                "name": "a1111.png",
                "mimeType": "image/png",
                "buffer": files.png(files.noise(1), text={"parameters": files.A1111_INFOTEXT}),
            },
            {
                "name": "comfy.png",
                "mimeType": "image/png",
                "buffer": files.comfyui_png(pixels=files.noise(2)),
            },
        ],
    )
    drafts = {
        "automatic1111": (
            page.locator(".upload-item").filter(has_text="Read from automatic1111"),
            A1111,
        ),
        "comfyui": (page.locator(".upload-item").filter(has_text="Read from comfyui"), COMFYUI),
    }
    for item, expected in drafts.values():
        expect(item).to_have_count(1)
        for name, value in expected.items():
            expect(item.locator(f"[name={name}]")).to_have_value(value)
    # A correction before publishing is kept.
    a1111, _ = drafts["automatic1111"]
    a1111.locator("[name=prompt]").fill("a red fox in the snow, corrected")
    for item, _ in drafts.values():
        item.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("link", name="Published: see your image")).to_have_count(2)
    page = site.go("/")
    expect(page.locator("#grid .tile")).to_have_count(2)
    expect(page.get_by_role("img", name="a red fox in the snow, corrected")).to_be_visible()
    expect(page.get_by_role("img", name="a lighthouse at dusk, oil painting")).to_be_visible()

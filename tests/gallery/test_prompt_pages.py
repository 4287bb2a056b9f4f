"""Prompt tools in the HTML pages: the prompt's anatomy on the image page, the remix tray."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def test_the_image_page_highlights_phrases_by_role_with_weights_and_tokens(client, make_image):
    image = make_image(prompt="a red fox, (oil painting:1.3), volumetric lighting, 8k")
    html = client.get(f"/images/{image.id}/").content.decode()
    anatomy = html[html.index('id="prompt-anatomy"') :]
    roles = re.findall(r'class="phrase role-(\w+)[^"]*"[^>]*>([^<]+)', anatomy)[:4]
    assert roles == [
        ("subject", "a red fox"),
        ("style", "oil painting"),
        ("lighting", "volumetric lighting"),
        ("quality", "8k"),
    ]
    assert '<sup class="weight">1.3</sup>' in anatomy
    assert "12 / 75 tokens" in html  # a red fox , oil painting , volumetric lighting , 8 k


def test_a_prompt_longer_than_one_clip_chunk_says_so(client, make_image):
    image = make_image(prompt=", ".join(f"a red fox number {i}" for i in range(25)))
    html = client.get(f"/images/{image.id}/").content.decode()
    assert "164 / 75 tokens, 3 CLIP chunks" in html
    assert "later-chunk" in html


def test_tiles_and_image_pages_can_add_to_the_remix_tray(client, make_image):
    image = make_image()
    grid = client.get("/").content.decode()
    assert f'class="tray-add" data-image-id="{image.id}"' in grid
    page = client.get(f"/images/{image.id}/").content.decode()
    assert f'class="tray-add" data-image-id="{image.id}"' in page
    assert 'id="remix-tray"' in page and "remix.js" in page
    search = client.get("/?q=fox").content.decode()
    assert f'class="tray-add" data-image-id="{image.id}"' in search


def test_the_modifier_explorer_lists_modifiers_by_role_with_counts_and_examples(client, make_image):
    from gallery.models import Image

    first = make_image(prompt="a fox, oil painting, golden hour, 8k")
    liked = make_image(prompt="a wolf, Oil Painting, 85mm")
    make_image(prompt="a bear, watercolor")
    Image.objects.filter(id=liked.id).update(like_count=3)
    html = client.get("/modifiers/").content.decode()
    style = html[html.index('id="role-style"') : html.index('id="role-lighting"')]
    rows = re.findall(r'role-style"[^>]*>([^<]+)</a></td>\s*<td class="count">(\d+)', style)
    assert rows == [("oil painting", "2"), ("watercolor", "1")]
    # The most liked image is the first example; this month's bar is the full one.
    oil = style[style.index("oil painting") : style.index("watercolor")]
    assert oil.index(f"/images/{liked.id}/") < oil.index(f"/images/{first.id}/")
    assert "▁▁▁▁▁█" in oil or "     █" in oil
    assert "golden hour" in html and "85mm" in html

"""The image page's "file info" (A1111's PNG Info) and reproducibility note for uploaded files."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from gallery.uploads.services import upload_import
from tests.gallery.uploads import files

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("chunk")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def imported(alice):
    data = files.png(
        files.noise(31),
        text={"parameters": files.A1111_INFOTEXT, "Comment": HOSTILE},
        itxt={"Description": "caf\u00e9 </pre></details><b>bold</b>"},
    )
    upload, created = upload_import(owner=alice, data=data)
    assert created
    return upload.image


def page(client, image) -> str:
    response = client.get(reverse("gallery:image", args=[image.id]))
    assert response.status_code == 200
    return response.content.decode()


def section(html: str) -> str:
    match = re.search(r'<section aria-labelledby="from-file-title">.*?</section>', html, re.S)
    assert match, "no file info section"
    return match.group(0)


def test_the_owner_sees_the_files_text_chunks_escaped_in_a_collapsed_details(
    client, alice, imported
):
    client.force_login(alice)
    info = section(page(client, imported))
    assert '<details class="file-info">' in info  # collapsed: no "open" attribute
    assert "<h3>parameters</h3>" in info and "<h3>Comment</h3>" in info
    assert "Steps: 28, Sampler: DPM++ 2M" in info
    # HTML in metadata is text: escaped, never markup that could run or break out.
    assert "&lt;script&gt;alert(&quot;chunk&quot;)&lt;/script&gt;" in info
    assert "&lt;img src=x onerror=alert(1)&gt;" in info
    assert "caf\u00e9 &lt;/pre&gt;&lt;/details&gt;&lt;b&gt;bold&lt;/b&gt;" in info
    assert "<script" not in info and "<img" not in info and "<b>" not in info
    # CSP stays strict: nothing inline in the section, and no inline script on the page.
    assert "style=" not in info and " on" not in info.replace(" onerror=alert", "")
    html = page(client, imported)
    assert all("src=" in tag for tag in re.findall(r"<script\b[^>]*>", html))


def test_everyone_sees_the_reproducibility_note_but_only_the_owner_the_raw_chunks(
    client, charlie, imported
):
    for viewer in (None, charlie):
        if viewer is not None:
            client.force_login(viewer)
        info = section(page(client, imported))
        assert "Partly reproducible" in info
        assert "known: model, model hash, sampler, steps, CFG scale, seed, size" in info
        assert "this model is not available here" in info
        assert "file-info" not in info and "alert" not in info and "Steps: 28" not in info


def test_a_generated_image_has_no_file_info(client, alice, make_image):
    image = make_image()
    client.force_login(alice)
    html = page(client, image)
    assert "file-info" not in html and "From the file" not in html
    assert "reproducible" not in html.lower()

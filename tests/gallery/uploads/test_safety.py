"""Every safety promise of uploads, as a test: sizes, types, re-encoding, hostile metadata."""

from __future__ import annotations

import io
import json
import time
import zlib
from pathlib import Path

import pytest
from django.conf import settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from gallery.models import Image, Upload
from gallery.uploads import services
from gallery.uploads.safety import UploadRefused
from tests.gallery.uploads import files
from tests.gallery.uploads.files import post_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(api, alice):
    api.force_authenticate(alice)
    return api


def media_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def stored_bytes(upload_id: int) -> bytes:
    return Upload.objects.get(pk=upload_id).file.read()


# --- Sizes ------------------------------------------------------------------------------------


def test_a_file_over_the_size_cap_is_refused_before_its_body_is_read(signed_in, settings):
    settings.MAX_UPLOAD_BYTES = 4096
    response = post_file(signed_in, files.png(files.noise(size=(128, 128))))
    assert response.status_code == 413
    assert response.json()["detail"].startswith("This file is too large: the limit is")
    assert media_files() == []


def test_the_size_cap_is_checked_again_in_the_service(alice, settings):
    settings.MAX_UPLOAD_BYTES = 4096
    with pytest.raises(UploadRefused) as refused:
        services.upload_create(owner=alice, data=files.png(files.noise(size=(128, 128))))
    assert refused.value.status == 413


def test_the_default_size_cap_is_25_mb():
    assert settings.MAX_UPLOAD_BYTES == 25 * 1024 * 1024


def test_an_image_over_the_pixel_cap_is_refused_from_its_header(signed_in, settings):
    settings.MAX_IMAGE_PIXELS = 100 * 100
    response = post_file(signed_in, files.png(files.noise(size=(101, 100))))
    assert response.status_code == 413
    assert "too many pixels" in response.json()["detail"]


def test_it_rejects_a_decompression_bomb_in_well_under_a_second(signed_in):
    # 30000 x 30000 black pixels: 900 megapixels in a ~100 KB PNG.
    row = b"\0" + b"\0" * (30000 // 8)
    idat = zlib.compress(row * 30000, 1)
    ihdr = (30000).to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])
    bomb = (
        files.PNG_SIGNATURE
        + files.png_chunk(b"IHDR", ihdr)
        + files.png_chunk(b"IDAT", idat)
        + files.png_chunk(b"IEND", b"")
    )
    started = time.perf_counter()
    response = post_file(signed_in, bomb)
    assert time.perf_counter() - started < 0.5
    assert response.status_code == 413


# --- Types ------------------------------------------------------------------------------------

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="9"/></svg>'
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF"
PSD = b"8BPS\x00\x01" + b"\x00" * 6 + b"\x00\x03\x00\x00\x00\x40\x00\x00\x00\x40\x00\x08\x00\x03"


def tiff() -> bytes:
    buffer = io.BytesIO()
    files.noise().save(buffer, format="TIFF")
    return buffer.getvalue()


def gif() -> bytes:
    buffer = io.BytesIO()
    files.noise().convert("P").save(buffer, format="GIF")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "payload",
    [SVG, HTML, PDF, PSD, tiff(), gif(), b"", b"\x89PNG\r\n\x1a\n"],
    ids=["svg", "html", "pdf", "psd", "tiff", "gif", "empty", "png-signature-only"],
)
def test_files_that_are_not_png_jpeg_or_webp_are_refused_whatever_their_name(signed_in, payload):
    response = post_file(signed_in, payload, name="innocent.png", content_type="image/png")
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "PNG, JPEG or WebP" in detail or "damaged" in detail or "empty" in detail
    assert media_files() == []


def test_a_truncated_png_is_refused_as_damaged(signed_in):
    data = files.png(files.noise(size=(64, 64)))
    response = post_file(signed_in, data[: len(data) // 2])
    assert response.status_code == 400
    assert "damaged" in response.json()["detail"]


# --- Re-encoding ------------------------------------------------------------------------------


def test_a_polyglot_png_is_stored_without_its_script(signed_in):
    polyglot = files.png() + b"<script>alert(document.cookie)</script>"
    response = post_file(signed_in, polyglot)
    assert response.status_code == 201
    assert b"<script>" not in stored_bytes(response.json()["id"])
    image_id = signed_in.post(f"/api/uploads/{response.json()['id']}/publish/").json()
    image = Image.objects.get(pk=image_id["image"]["id"])
    assert b"<script>" not in image.file.read()


def test_a_script_hidden_in_a_private_png_chunk_does_not_survive(signed_in):
    hidden = files.png_chunk(b"htMl", b"<script>alert(1)</script>")
    response = post_file(signed_in, files.png_with_chunks(files.noise(), hidden))
    assert response.status_code == 201
    assert b"<script>" not in stored_bytes(response.json()["id"])


def test_exif_gps_and_xmp_are_stripped_and_only_our_parameters_chunk_is_written(signed_in):
    response = post_file(
        signed_in, files.jpeg(comment=files.A1111_INFOTEXT, gps=True), name="p.jpg"
    )
    assert response.status_code == 201
    draft = stored_bytes(response.json()["id"])
    for secret in (b"Secret Phone", b"Secretville", b"Exif\0\0", b"UNICODE"):
        assert secret not in draft
    published = signed_in.post(f"/api/uploads/{response.json()['id']}/publish/").json()
    data = Image.objects.get(pk=published["image"]["id"]).file.read()
    assert b"Secret Phone" not in data and b"Secretville" not in data
    stored = PILImage.open(io.BytesIO(data))
    assert stored.format == "PNG"
    assert set(stored.info) <= {"parameters", "dpi"}
    assert "Steps: 28, Sampler: DPM++ 2M Karras" in stored.info["parameters"]
    assert not stored.getexif()


def test_foreign_png_text_chunks_are_not_kept_in_the_published_file(signed_in):
    data = files.png(text={"parameters": files.FORGE_INFOTEXT, "tracking": "id=12345"})
    draft = post_file(signed_in, data).json()
    published = signed_in.post(f"/api/uploads/{draft['id']}/publish/").json()
    stored = Image.objects.get(pk=published["image"]["id"]).file.read()
    assert b"tracking" not in stored and b"id=12345" not in stored


def test_media_is_served_with_its_content_type_and_nosniff(signed_in, client, alice):
    draft = post_file(signed_in, files.png()).json()
    client.force_login(alice)
    preview = client.get(f"/uploads/{draft['id']}/preview/")
    assert preview["Content-Type"] == "image/webp"
    assert preview["X-Content-Type-Options"] == "nosniff"
    image = signed_in.post(f"/api/uploads/{draft['id']}/publish/").json()["image"]
    response = client.get(f"/images/{image['id']}/download/")
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == f'attachment; filename="atelier-{image["id"]}.png"'
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_original_file_name_is_never_a_storage_key_nor_shown(signed_in):
    name = "../../etc/passwd<b>holiday-photo.png"
    response = post_file(signed_in, files.png(), name=name)
    assert response.status_code == 201
    assert "holiday" not in json.dumps(response.json())
    assert not any("holiday" in str(path) for path in media_files())


# --- Hostile metadata -------------------------------------------------------------------------


def test_an_oversized_compressed_metadata_chunk_is_dropped_and_the_upload_succeeds(signed_in):
    data = files.png_with_chunks(
        files.noise(),
        files.png_chunk(b"zTXt", b"parameters\0\0" + zlib.compress(b"B" * (8 * 1024 * 1024))),
    )
    response = post_file(signed_in, data)
    assert response.status_code == 201
    assert response.json()["metadata"]["prompt"] == ""
    assert "zTXt" in response.json()["raw_metadata"]["(dropped)"]


def test_deeply_nested_json_metadata_does_not_break_the_upload(signed_in):
    nested = "[" * 100_000 + "]" * 100_000
    data = files.png(text={"prompt": nested, "invokeai_metadata": nested})
    response = post_file(signed_in, data)
    assert response.status_code == 201
    assert response.json()["metadata"]["generator"] == ""


def test_invalid_utf8_in_metadata_is_replaced_not_fatal(signed_in):
    body = b"parameters\0\0\0\0\0" + b"caf\xc3 \xff\xfe\nSteps: 5, Sampler: Euler, Seed: 1"
    data = files.png_with_chunks(files.noise(), files.png_chunk(b"iTXt", body))
    response = post_file(signed_in, data)
    assert response.status_code == 201
    assert response.json()["metadata"]["prompt"].startswith("caf")


def test_html_in_a_prompt_is_kept_as_text_and_escaped_on_the_page(signed_in, client):
    text = (
        '<img src=x onerror="alert(1)"><script>alert(2)</script>\nSteps: 5, Sampler: Euler, Seed: 1'
    )
    draft = post_file(signed_in, files.png(text={"parameters": text})).json()
    assert draft["metadata"]["prompt"].startswith("<img src=x")
    image = signed_in.post(f"/api/uploads/{draft['id']}/publish/").json()["image"]
    page = client.get(f"/images/{image['id']}/").content
    assert b"<script>alert(2)" not in page and b"&lt;script&gt;alert(2)" in page


def test_out_of_range_numbers_nul_bytes_and_nan_are_dropped(signed_in):
    comment = {"sampler": "k_euler", "steps": 10**30, "scale": float("nan"), "seed": -5}
    data = files.png(
        text={
            "Software": "NovelAI",
            "Description": "a\x00 fox\x07",
            "Comment": json.dumps(comment),
        }
    )
    response = post_file(signed_in, data)
    assert response.status_code == 201
    meta = response.json()["metadata"]
    assert meta["prompt"] == "a fox"
    assert (meta["steps"], meta["cfg_scale"], meta["seed"]) == (None, None, None)


# --- No partial files -------------------------------------------------------------------------


def test_if_thumbnailing_fails_at_publish_no_image_and_no_partial_files_remain(
    signed_in, monkeypatch
):
    draft = post_file(signed_in, files.png()).json()
    before = media_files()
    calls = {"n": 0}
    real = services._thumbnail_bytes.__globals__["_thumbnail_bytes"]

    def fail_second(pixels, width):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(pixels, width)

    monkeypatch.setattr("gallery.services._thumbnail_bytes", fail_second)
    with pytest.raises(OSError):
        signed_in.post(f"/api/uploads/{draft['id']}/publish/")
    assert Image.objects.count() == 0
    assert media_files() == before
    assert Upload.objects.get(pk=draft["id"]).status == "draft"


def test_if_writing_a_file_fails_midway_the_files_already_written_are_removed(
    signed_in, monkeypatch
):
    from django.core.files.storage import default_storage

    real_save = default_storage.save
    saved: list[str] = []

    def save_then_fail(name, content, **kwargs):
        if saved:
            raise OSError("disk full")
        saved.append(real_save(name, content, **kwargs))
        return saved[-1]

    monkeypatch.setattr(default_storage, "save", save_then_fail)
    with pytest.raises(OSError):
        post_file(signed_in, files.png())
    assert saved and media_files() == []
    assert Upload.objects.count() == 0


def test_if_the_row_cannot_be_written_the_draft_files_go(alice, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "uploads_near_duplicates", broken)
    with pytest.raises(RuntimeError):
        services.upload_create(owner=alice, data=files.png())
    assert media_files() == []


# --- Fuzz -------------------------------------------------------------------------------------

SEEDS = [
    files.png(text={"parameters": files.A1111_INFOTEXT}),
    files.comfyui_png(),
    files.jpeg(comment=files.A1111_INFOTEXT, gps=True),
    files.webp(comment=files.FORGE_INFOTEXT),
]


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        position = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "flip" and data:
            data[position] ^= draw(st.integers(1, 255))
        elif action == "cut":
            del data[position : position + draw(st.integers(1, 64))]
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=32))
        else:
            data = data[:position]
    return bytes(data)


@hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(data=mutated_files())
def test_fuzzed_files_are_accepted_or_refused_with_a_4xx_never_a_500(signed_in, data):
    response = post_file(signed_in, data)
    assert response.status_code == 201 or 400 <= response.status_code < 500, response.content
    if response.status_code != 201:
        assert response.json()["detail"]
    else:
        Upload.objects.filter(pk=response.json()["id"]).delete()  # the next example may match

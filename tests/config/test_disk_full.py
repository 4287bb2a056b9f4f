"""A full media disk: a clear 503, no half-written rows or files, and it works once freed.

The media folder is a real 1 MB tmpfs filled to the last byte (needs root, as CI has).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gallery.models import Image, Upload
from tests.gallery.uploads import files
from tests.gallery.uploads.files import post_file, tiny_model_dir  # noqa: F401

pytestmark = pytest.mark.django_db


def _all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_an_upload_to_a_full_disk_is_a_503_and_leaves_nothing_behind(
    api, alice, full_media, client
):
    media, filler = full_media
    api.force_authenticate(alice)
    before = _all_files(media)
    api.raise_request_exception = False
    response = post_file(api, files.comfyui_png())
    assert response.status_code == 503
    assert "storage is full" in response.json()["detail"]
    assert response["Retry-After"]
    assert Upload.objects.count() == 0 and Image.objects.count() == 0
    assert _all_files(media) == before  # no partial file
    # THEN, with space again, the same upload goes through
    filler.unlink()
    assert post_file(api, files.comfyui_png()).status_code == 201


def test_a_generated_image_on_a_full_disk_writes_no_row_and_no_file(make_image, full_media):
    media, _ = full_media
    before = _all_files(media)
    with pytest.raises(OSError):
        make_image(prompt="a picture that cannot be stored")
    assert Image.objects.count() == 0
    assert _all_files(media) == before

"""``manage.py import_images``: a whole folder, resumable, idempotent, never stopped by one file."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from gallery.models import Image, Upload
from tests.gallery.uploads import files

pytestmark = pytest.mark.django_db


def run(directory: Path, owner: str = "alice") -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_images", str(directory), owner=owner, jobs=1, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def output_folder(tmp_path: Path) -> Path:
    """An A1111 + ComfyUI output folder, with the usual sidecar files and one broken image."""
    folder = tmp_path / "outputs"
    (folder / "txt2img-images" / "2024-05-01").mkdir(parents=True)
    (folder / "comfyui").mkdir()
    a1111 = folder / "txt2img-images" / "2024-05-01"
    (a1111 / "00001-1234567890.png").write_bytes(
        files.png(files.noise(21), text={"parameters": files.A1111_INFOTEXT})
    )
    (a1111 / "00002-42.jpg").write_bytes(files.jpeg(files.noise(22), comment=files.FORGE_INFOTEXT))
    (folder / "comfyui" / "ComfyUI_00001_.png").write_bytes(files.comfyui_png())
    (folder / "comfyui" / "ComfyUI_00002_.png").write_bytes(b"<html>not an image</html>")
    (folder / "comfyui" / "params.txt").write_text("sidecar, not an image")
    return folder


def test_it_imports_a_folder_and_reports_the_files_it_cannot_read(alice, output_folder):
    out, err = run(output_folder)
    assert "3 imported, 0 already there, 1 skipped (of 4 files)" in out
    assert "ComfyUI_00002_.png: This file is not a PNG, JPEG or WebP image" in err
    assert "[##############################] 4/4" in err
    images = Image.objects.filter(owner=alice, source=Image.Source.IMPORTED)
    assert sorted(i.prompt.text for i in images.select_related("prompt")) == [
        "a lighthouse at dusk, oil painting",
        "a lighthouse on a cliff, stormy sea",
        "masterpiece, (a red fox:1.2) in the snow, <lora:add_detail:0.8>",
    ]


def test_running_it_twice_imports_nothing_twice(alice, output_folder):
    run(output_folder)
    out, _ = run(output_folder)
    assert "0 imported, 3 already there, 1 skipped" in out
    assert Image.objects.count() == 3 and Upload.objects.count() == 3


def test_it_resumes_where_an_interrupted_run_stopped(alice, output_folder):
    first = output_folder / "txt2img-images"
    run(first)  # the run that "crashed" after the first folder
    out, _ = run(output_folder)
    assert "1 imported, 2 already there, 1 skipped" in out
    assert Image.objects.count() == 3


def test_it_names_an_unknown_owner_or_folder(alice, tmp_path):
    with pytest.raises(CommandError, match="no user"):
        run(tmp_path, owner="nobody")
    with pytest.raises(CommandError, match="not a folder"):
        run(tmp_path / "missing")

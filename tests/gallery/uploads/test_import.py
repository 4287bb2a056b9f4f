"""``manage.py import_images``: a whole folder, resumable, idempotent, never stopped by one file."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from gallery.models import Image, Upload
from tests.gallery.uploads import files

pytestmark = pytest.mark.django_db


def run(directory: Path, owner: str = "alice", jobs: int = 1) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_images", str(directory), owner=owner, jobs=jobs, stdout=out, stderr=err)
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


def imported() -> list[tuple]:
    """What an import left, file names aside: each image's settings and file hash, each row."""
    images = Image.objects.filter(source=Image.Source.IMPORTED).select_related("prompt")
    uploads = Upload.objects.all()
    return sorted(
        (
            i.prompt.text,
            i.prompt.negative_text,
            i.model_name,
            i.scheduler,
            i.steps,
            i.cfg_scale,
            i.seed,
            i.width,
            i.height,
            i.extra,
            i.sha256,
            i.rating,
        )
        for i in images
    ) + sorted(
        (u.sha256, u.phash, u.generator, u.metadata, u.raw_chunks, u.original_format, u.status)
        for u in uploads
    )


def test_worker_processes_import_exactly_what_one_process_imports(alice, output_folder):
    # The same bytes twice in one run: the second copy is found at write time.
    (output_folder / "copy.png").write_bytes(
        (output_folder / "comfyui" / "ComfyUI_00001_.png").read_bytes()
    )
    serial_out, serial_err = run(output_folder, jobs=1)
    serial = imported()
    assert "3 imported, 1 already there, 1 skipped (of 5 files)" in serial_out
    Upload.objects.all().delete()
    Image.objects.all().delete()

    pooled_out, pooled_err = run(output_folder, jobs=2)
    assert pooled_out == serial_out
    assert pooled_err == serial_err  # same progress lines, same skipped file and reason
    assert imported() == serial
    again, _ = run(output_folder, jobs=2)
    assert "0 imported, 4 already there, 1 skipped" in again
    assert Image.objects.count() == 3 and Upload.objects.count() == 3


def test_worker_processes_skip_a_file_over_the_size_cap(alice, output_folder, settings):
    settings.MAX_UPLOAD_BYTES = 10_000  # the JPEG (6 KB) is under it, both PNGs (13-14 KB) over
    out, err = run(output_folder, jobs=2)
    assert "1 imported, 0 already there, 3 skipped (of 4 files)" in out
    assert "00001-1234567890.png: larger than MAX_UPLOAD_BYTES" in err
    assert Image.objects.get().prompt.text == "a lighthouse on a cliff, stormy sea"  # the JPEG

"""Uploads: what one upload costs, and how fast a folder imports.

1. ``POST /api/uploads/`` of a typical 1024x1024 PNG with ComfyUI metadata, in process through
   the real view: multipart parsing, SHA-256 and duplicate check, decode, metadata parse,
   re-encode, preview thumbnail, pHash and near-duplicate scan, row write. Then publishing it
   (final PNG with the A1111 chunk, two WebP thumbnails). Prints p50/p95 of each.
2. ``manage.py import_images`` of a folder of 500 such files, pinned to 2 CPU cores, with
   ``--jobs 1`` (all in one process) and ``--jobs 2`` (two worker processes). Prints images/s,
   and the CPU seconds each image took (this process and its workers), which a busy machine
   does not change much: 2 / that is what two idle cores can do.

Runs on a throwaway SQLite database and media folder:

    .venv/bin/python bench/uploads.py [--uploads 40] [--files 500]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def typical_png(seed: int) -> bytes:
    """A 1024x1024 picture with SD-like content (smooth shapes, fine grain) and a ComfyUI graph."""
    import numpy as np
    from PIL import Image, ImageDraw
    from PIL.PngImagePlugin import PngInfo

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:1024, 0:1024].astype(np.float32) / 1024
    base = np.stack([x * 200 + 30, y * 180 + 40, (1 - x) * 150 + 60], axis=-1)
    base += rng.normal(0, 4, base.shape)
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        cx, cy, r = rng.integers(0, 1024), rng.integers(0, 1024), rng.integers(20, 200)
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    from tests.gallery.uploads.files import comfyui_graph

    info = PngInfo()
    info.add_text("prompt", json.dumps(comfyui_graph()))
    info.add_text("workflow", json.dumps({"nodes": [], "links": [], "version": 0.4}))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def _write(args: tuple[Path, int]) -> None:
    folder, seed = args
    (folder / f"ComfyUI_{seed:05d}_.png").write_bytes(typical_png(seed))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uploads", type=int, default=40)
    parser.add_argument("--files", type=int, default=500)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="atelier-bench-uploads-"))
    os.environ["ATELIER_VAR_DIR"] = str(work)
    os.environ["DATABASE_URL"] = f"sqlite:///{work / 'bench.sqlite3'}"
    os.environ["MEDIA_ROOT"] = str(work / "media")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["LOG_LEVEL"] = "WARNING"
    # Background tasks that publishing enqueues (prompt embeddings) are not what is measured.
    os.environ["CELERY_BROKER_URL"] = "memory://"
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from rest_framework.test import APIClient

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="bench-password-1")
    client = APIClient()
    client.force_authenticate(user)

    sample = typical_png(0)
    print(f"sample: 1024x1024 PNG, {len(sample) / 1024:.0f} KB, ComfyUI prompt graph")
    upload_ms, publish_ms = [], []
    for seed in range(1, args.uploads + 1):
        data = typical_png(seed)
        started = time.perf_counter()
        response = client.post(
            "/api/uploads/", {"file": SimpleUploadedFile("x.png", data)}, format="multipart"
        )
        upload_ms.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 201, response.content
        started = time.perf_counter()
        done = client.post(f"/api/uploads/{response.json()['id']}/publish/")
        publish_ms.append((time.perf_counter() - started) * 1000)
        assert done.status_code == 201, done.content
    print(
        f"upload (parse, re-encode, preview, hashes): p50 {_pct(upload_ms, 0.5):.0f} ms, "
        f"p95 {_pct(upload_ms, 0.95):.0f} ms  (n={args.uploads})"
    )
    print(
        f"publish (final PNG + 2 thumbnails):        p50 {_pct(publish_ms, 0.5):.0f} ms, "
        f"p95 {_pct(publish_ms, 0.95):.0f} ms"
    )

    folder = work / "outputs"
    folder.mkdir()
    with ProcessPoolExecutor() as pool:
        list(pool.map(_write, [(folder, 1000 + i) for i in range(args.files)], chunksize=8))
    cores = sorted(os.sched_getaffinity(0))[:2]
    os.sched_setaffinity(0, cores)
    from gallery.models import Image, Upload

    for jobs in (1, 2):
        # Start each run from an empty gallery, or every file would be a known duplicate.
        Upload.objects.all().delete()
        Image.objects.all().delete()
        owner = get_user_model().objects.create_user(f"importer{jobs}", password="x-password-1")
        cpu_before = os.times()
        started = time.perf_counter()
        out = io.StringIO()
        call_command(
            "import_images",
            str(folder),
            owner=owner.username,
            jobs=jobs,
            stdout=out,
            stderr=io.StringIO(),
        )
        elapsed = time.perf_counter() - started
        cpu_after = os.times()
        cpu = sum(cpu_after[:4]) - sum(cpu_before[:4])  # user + system, self + reaped workers
        print(
            f"import_images, {args.files} files, 2 cores, --jobs {jobs}: "
            f"{args.files / elapsed:.1f} images/s, {cpu / args.files * 1000:.0f} ms CPU per "
            f"image ({out.getvalue().strip()}; load average {os.getloadavg()[0]:.1f})"
        )


if __name__ == "__main__":
    main()

"""Canvas overhead: an inpaint job against a plain img2img job of the same size and strength.

Runs both kinds of job in this process through the worker's own service (`job_execute`, which
the Celery task calls) on a fresh SQLite database and the tiny offline model: claim, read the
source, render, store. The two kinds alternate so that machine load hits both alike. The inpaint
job does what img2img does plus its own work: decode the mask, plan the canvas (feather the
mask), run diffusers' inpaint pipeline (latent blending each step) and paste the original back.

Overhead = median(inpaint job) / median(img2img job) - 1; the target is <= 10%. Also printed:
the same ratio for the pipeline call alone (``job.timings["render"]``), and an outpaint job
(the canvas grows, so it is slower by its extra pixels: shown, not targeted).

    OMP_NUM_THREADS=1 .venv/bin/python bench/canvas.py [--jobs 30] [--size 64] [--steps 20]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup(tmp: Path, device: str) -> None:
    import json

    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "ATELIER_VAR_DIR": str(tmp),
            "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
            "MEDIA_ROOT": str(tmp / "media"),
            "SD_MODELS": json.dumps({"tiny-test": str(tmp / "tiny-sd")}),
            "SD_DEVICE": device,
            "HF_HUB_OFFLINE": "1",
            "GENERATION_MAX_ACTIVE_JOBS": "100000",
            "CELERY_BROKER_URL": "memory://",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    from generation.testmodel import build_test_model

    call_command("migrate", verbosity=0)
    build_test_model(tmp / "tiny-sd")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=30, help="jobs of each kind")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="atelier-bench-canvas-"))
    _setup(tmp, args.device)

    import numpy as np
    from django.contrib.auth import get_user_model
    from PIL import Image as PILImage

    from gallery.params import GenerationParams
    from gallery.services import image_create
    from generation import services
    from generation.services import JobRequest

    size = args.size
    user = get_user_model().objects.create_user("bench", password="x")
    pixels = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    source = image_create(
        owner=user,
        pixels=PILImage.fromarray(pixels, "RGB"),
        params=GenerationParams(prompt="a koi pond", model_name="tiny-test", width=size),
    )
    mask = PILImage.new("L", (size, size), 0)
    mask.paste(255, (size // 4, size // 4, 3 * size // 4, 3 * size // 4))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    common = {"source_image": source.id, "strength": 0.75, "steps": args.steps, "seed": 1}
    kinds = {
        "img2img": {"mode": "vary", **common},
        "inpaint": {"mode": "inpaint", "mask": buffer.getvalue(), **common},
        "outpaint": {"mode": "outpaint", "extend": {"right": 64}, **common},
    }
    totals: dict[str, list[float]] = {kind: [] for kind in kinds}
    renders: dict[str, list[float]] = {kind: [] for kind in kinds}
    for index in range(args.jobs + 1):  # the first round warms the model up
        for kind, fields in kinds.items():
            started = time.perf_counter()
            job, _ = services.job_create(owner=user, request=JobRequest(**fields))
            services.job_execute(job_id=job.id)
            elapsed = time.perf_counter() - started
            job.refresh_from_db()
            assert job.status == "succeeded", job.error
            if index:
                totals[kind].append(elapsed * 1000)
                renders[kind].append(job.timings["render"] * 1000)

    def median(values: list[float]) -> float:
        return statistics.median(values)

    print(
        f"{args.jobs} jobs of each kind, tiny model, {size}x{size}, {args.steps} steps x "
        f"strength 0.75, device {args.device}, torch threads {_threads()}"
    )
    print(f"{'kind':<10}{'job p50':>10}{'render p50':>12}{'job vs img2img':>16}")
    base_total, base_render = median(totals["img2img"]), median(renders["img2img"])
    for kind in kinds:
        total, render = median(totals[kind]), median(renders[kind])
        print(
            f"{kind:<10}{total:>7.1f} ms{render:>9.1f} ms{100 * (total / base_total - 1):>+14.1f} %"
        )
    overhead = 100 * (median(totals["inpaint"]) / base_total - 1)
    render_overhead = 100 * (median(renders["inpaint"]) / base_render - 1)
    print(
        f"inpaint overhead beyond img2img: job {overhead:+.1f} %, pipeline call "
        f"{render_overhead:+.1f} % (target <= 10 %)"
    )


def _threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    main()

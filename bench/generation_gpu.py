"""GPU generation speed: full-size SD 1.5 architecture, random weights, the product's render path.

Weights cannot be downloaded on the machines we get, and speed does not depend on their values,
so this builds SD 1.5's published architecture (UNet 860M, VAE, CLIP ViT-L text encoder) with
random weights, in fp16 on CUDA, and renders through `generation.pipelines.render` (compel
encoding, scheduler, seeded generators, step callback: what a worker does). It reports it/s and
seconds per 512x512 30-step image at batch 1 and 4, without and with ``torch.compile``.

    .venv/bin/python bench/generation_gpu.py            # on a CUDA machine
    .venv/bin/python bench/generation_gpu.py --smoke    # CPU, 64x64, 2 steps: checks it runs

Anchors (H100, SD 1.5, 512x512): plain PyTorch ~54 it/s, torch.compile ~66 it/s, stable-fast
~105 it/s; compute floor ~51 ms per image. Targets: <= 0.45 s per image at batch 1 and
>= 5 images/s at batch 4 on an H100.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def build_sd15(device: str, dtype: object) -> object:
    """SD 1.5's architecture from its published configs, random weights, tiny-model tokenizer."""
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from generation.testmodel import build_test_model

    tiny = StableDiffusionPipeline.from_pretrained(
        build_test_model(Path(tempfile.mkdtemp(prefix="sd15-tok-")) / "tiny")
    )
    unet = UNet2DConditionModel(
        sample_size=64,
        in_channels=4,
        out_channels=4,
        layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=768,
        attention_head_dim=8,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        latent_channels=4,
        sample_size=512,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=49408,
            hidden_size=768,
            intermediate_size=3072,
            num_attention_heads=12,
            num_hidden_layers=12,
            max_position_embeddings=77,
            hidden_act="quick_gelu",
        )
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tiny.tokenizer,
        unet=unet,
        scheduler=tiny.scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.to(device, dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def measure(
    pipe: object, *, size: int, steps: int, batch: int, repeats: int
) -> tuple[float, float]:
    """Seconds per render (median of ``repeats`` after one warm-up) and UNet it/s."""
    import torch

    from generation.pipelines import RenderRequest, render

    request = RenderRequest(
        prompt="a lighthouse on a cliff, oil painting, (dramatic lighting:1.2)",
        negative_prompt="blurry",
        scheduler="DPM++ 2M Karras",
        steps=steps,
        cfg_scale=7.0,
        width=size,
        height=size,
        seeds=list(range(batch)),
    )
    render(pipe, request)  # warm-up (and compilation)
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        started = time.perf_counter()
        render(pipe, request)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    seconds = sorted(times)[len(times) // 2]
    return seconds, steps / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description="SD 1.5 render speed on this device")
    parser.add_argument("--smoke", action="store_true", help="CPU, 64x64, 2 steps")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args()

    import django
    import torch

    django.setup()
    cuda = torch.cuda.is_available() and not args.smoke
    device, dtype = ("cuda", torch.float16) if cuda else ("cpu", torch.float32)
    size, steps = (512, 30) if cuda else (64, 2)
    name = torch.cuda.get_device_name() if cuda else "CPU"
    print(f"device: {name}, {dtype}, torch {torch.__version__}, {size}x{size}, {steps} steps")
    pipe = build_sd15(device, dtype)
    variants = [("eager", False)] + ([] if args.no_compile or not cuda else [("compile", True)])
    print(f"{'variant':<9}{'batch':>6}{'s/render':>10}{'s/image':>9}{'it/s':>8}{'img/s':>7}")
    for label, compiled in variants:
        if compiled:
            pipe.unet = torch.compile(pipe.unet, mode="max-autotune-no-cudagraphs", fullgraph=True)
        for batch in (1, 4):
            seconds, its = measure(pipe, size=size, steps=steps, batch=batch, repeats=args.repeats)
            print(
                f"{label:<9}{batch:>6}{seconds:>10.3f}{seconds / batch:>9.3f}{its:>8.1f}"
                f"{batch / seconds:>7.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""Test files made the way each tool writes them (chunk names, encodings, JSON shapes).

Built in code, byte by byte where it matters, so the suite needs no sample files and shows
exactly what each format looks like.
"""

from __future__ import annotations

import io
import json
import random
import struct
import zlib
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from PIL.PngImagePlugin import PngInfo


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Overrides the suite's tiny SD model: uploads never run one, so never build one."""
    return tmp_path_factory.mktemp("no-model")


def post_file(api, data: bytes, name: str = "image.png", content_type: str = "image/png"):
    """POST a file to the uploads API the way a browser's FormData does."""
    upload = SimpleUploadedFile(name, data, content_type=content_type)
    return api.post("/api/uploads/", {"file": upload}, format="multipart")


A1111_INFOTEXT = (
    "masterpiece, (a red fox:1.2) in the snow, <lora:add_detail:0.8>\n"
    "Negative prompt: blurry, lowres, (worst quality:1.4)\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1234567890, "
    "Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Clip skip: 2, "
    'Lora hashes: "add_detail: 7c6bad76eb54", '
    'TI hashes: "easynegative: c74b4e810b03, bad-hands: 1a2b3c4d5e6f", '
    'Hashes: {"model": "6ce0161689", "lora:add_detail": "7c6bad76eb54"}, Version: v1.10.1'
)
FORGE_INFOTEXT = (
    "a lighthouse on a cliff, stormy sea\n"
    "Steps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 42, "
    "Size: 1024x1024, Model hash: 31e35c80fc, Model: sd_xl_base_1.0, "
    "Version: f2.0.1v1.10.1-previous-313-g8a042934"
)


def noise(seed: int = 1, size: tuple[int, int] = (64, 64), mode: str = "RGB") -> Image.Image:
    """Random pixels: every seed gives a picture with its own perceptual hash."""
    rng = random.Random(seed)
    return Image.frombytes(mode, size, rng.randbytes(size[0] * size[1] * len(mode)))


def png(
    pixels: Image.Image | None = None,
    *,
    text: dict[str, str] | None = None,
    itxt: dict[str, str] | None = None,
) -> bytes:
    """A PNG with tEXt (latin-1) and iTXt (UTF-8) chunks, as A1111 and ComfyUI write them."""
    info = PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    for key, value in (itxt or {}).items():
        info.add_itxt(key, value)
    buffer = io.BytesIO()
    (pixels or noise()).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One raw PNG chunk with a correct CRC (for hand-made hostile chunks)."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_with_chunks(pixels: Image.Image, *chunks: bytes) -> bytes:
    """A PNG with raw chunks inserted right after IHDR."""
    data = png(pixels)
    ihdr_end = 8 + 12 + 13
    return data[:ihdr_end] + b"".join(chunks) + data[ihdr_end:]


def user_comment(text: str) -> bytes:
    """EXIF UserComment as piexif writes it for A1111/Forge: 'UNICODE\\0' + UTF-16 BE."""
    return b"UNICODE\0" + text.encode("utf-16-be")


def exif_with(text: str | None, *, gps: bool = False) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Secret Phone 3000"  # Model
    if text is not None:
        exif.get_ifd(0x8769)[0x9286] = user_comment(text)
    if gps:
        gps_ifd = exif.get_ifd(0x8825)
        gps_ifd[1] = "N"
        gps_ifd[2] = (48.0, 51.0, 29.0)
        gps_ifd[3] = "E"
        gps_ifd[4] = (2.0, 17.0, 40.0)
    return exif


XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf'
    b'-syntax-ns#"><rdf:Description photoshop:City="Secretville"/></rdf:RDF></x:xmpmeta>'
)


def jpeg(
    pixels: Image.Image | None = None, *, comment: str | None = None, gps: bool = False
) -> bytes:
    """A JPEG as A1111/Forge save it: infotext in the EXIF UserComment (and, here, GPS/XMP)."""
    buffer = io.BytesIO()
    (pixels or noise()).save(
        buffer, format="JPEG", quality=95, exif=exif_with(comment, gps=gps), xmp=XMP
    )
    return buffer.getvalue()


def webp(pixels: Image.Image | None = None, *, comment: str | None = None) -> bytes:
    """A WebP as A1111/Forge save it: EXIF UserComment again."""
    buffer = io.BytesIO()
    (pixels or noise()).save(buffer, format="WEBP", quality=90, exif=exif_with(comment))
    return buffer.getvalue()


def comfyui_graph() -> dict:
    """A ComfyUI SD1.5 txt2img + hires graph: LoRA, a seed node, reroutes on every path."""
    return {
        "4": {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": "dreamshaper_8.safetensors"},
        },
        "10": {
            "class_type": "LoraLoader",
            "inputs": {
                "model": ["4", 0],
                "clip": ["4", 1],
                "lora_name": "add_detail.safetensors",
                "strength_model": 0.8,
                "strength_clip": 0.8,
            },
        },
        "20": {"class_type": "Reroute", "inputs": {"": ["10", 0]}},
        "6": {
            "class_type": "CLIPTextEncode",
            "inputs": {"text": "a lighthouse at dusk, oil painting", "clip": ["10", 1]},
        },
        "7": {
            "class_type": "CLIPTextEncode",
            "inputs": {"text": "blurry, watermark", "clip": ["10", 1]},
        },
        "21": {"class_type": "Reroute", "inputs": {"": ["6", 0]}},
        "22": {"class_type": "Reroute", "inputs": {"": ["21", 0]}},
        "23": {"class_type": "Reroute", "inputs": {"": ["7", 0]}},
        "30": {"class_type": "Seed (rgthree)", "inputs": {"seed": 987654321}},
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": 512, "height": 768, "batch_size": 1},
        },
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": ["30", 0],
                "steps": 30,
                "cfg": 7.0,
                "sampler_name": "dpmpp_2m",
                "scheduler": "karras",
                "denoise": 1.0,
                "model": ["20", 0],
                "positive": ["22", 0],
                "negative": ["23", 0],
                "latent_image": ["5", 0],
            },
        },
        "12": {
            "class_type": "LatentUpscaleBy",
            "inputs": {"samples": ["3", 0], "upscale_method": "nearest-exact", "scale_by": 1.5},
        },
        "11": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 1,
                "steps": 12,
                "cfg": 5.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 0.45,
                "model": ["20", 0],
                "positive": ["22", 0],
                "negative": ["23", 0],
                "latent_image": ["12", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["11", 0], "vae": ["4", 2]}},
        "9": {
            "class_type": "SaveImage",
            "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]},
        },
    }


def flux_graph() -> dict:
    """ComfyUI's Flux workflow: SamplerCustomAdvanced with a guider and a FluxGuidance node."""
    return {
        "12": {
            "class_type": "UNETLoader",
            "inputs": {"unet_name": "flux1-dev.safetensors", "weight_dtype": "default"},
        },
        "11": {
            "class_type": "DualCLIPLoader",
            "inputs": {
                "clip_name1": "t5xxl_fp16.safetensors",
                "clip_name2": "clip_l.safetensors",
                "type": "flux",
            },
        },
        "6": {
            "class_type": "CLIPTextEncode",
            "inputs": {"text": "a cat astronaut, photo", "clip": ["11", 0]},
        },
        "26": {"class_type": "FluxGuidance", "inputs": {"guidance": 3.5, "conditioning": ["6", 0]}},
        "30": {"class_type": "Reroute", "inputs": {"": ["26", 0]}},
        "22": {
            "class_type": "BasicGuider",
            "inputs": {"model": ["12", 0], "conditioning": ["30", 0]},
        },
        "25": {"class_type": "RandomNoise", "inputs": {"noise_seed": 555}},
        "16": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "17": {
            "class_type": "BasicScheduler",
            "inputs": {"scheduler": "simple", "steps": 20, "denoise": 1.0, "model": ["12", 0]},
        },
        "27": {
            "class_type": "EmptySD3LatentImage",
            "inputs": {"width": 1024, "height": 768, "batch_size": 1},
        },
        "13": {
            "class_type": "SamplerCustomAdvanced",
            "inputs": {
                "noise": ["25", 0],
                "guider": ["22", 0],
                "sampler": ["16", 0],
                "sigmas": ["17", 0],
                "latent_image": ["27", 0],
            },
        },
    }


def comfyui_png(graph: dict | None = None, pixels: Image.Image | None = None) -> bytes:
    """ComfyUI writes the API graph as tEXt ``prompt`` and the editor's graph as ``workflow``."""
    workflow = {"last_node_id": 30, "last_link_id": 40, "nodes": [], "links": [], "version": 0.4}
    return png(
        pixels,
        text={"prompt": json.dumps(graph or comfyui_graph()), "workflow": json.dumps(workflow)},
    )


INVOKEAI_METADATA = {
    "generation_mode": "txt2img",
    "positive_prompt": "a misty forest at dawn, volumetric light",
    "negative_prompt": "lowres, jpeg artifacts",
    "width": 1024,
    "height": 768,
    "seed": 2204781145,
    "rand_device": "cpu",
    "cfg_scale": 6.0,
    "cfg_rescale_multiplier": 0,
    "steps": 32,
    "scheduler": "dpmpp_2m_k",
    "model": {
        "key": "8c3b4b2e-51a0-4a1e-9a2f-2f3d1c2b0a11",
        "hash": "blake3:6a5c2f0bd0e1c3a9",
        "name": "Juggernaut XL v9",
        "base": "sdxl",
        "type": "main",
    },
    "loras": [],
    "app_version": "5.0.0",
}
SD_METADATA = {
    "model": "stable diffusion",
    "model_weights": "stable-diffusion-1.5",
    "model_hash": "cc6cb27103417325ff94f52b7a5d2dde45a7515b25c255d8e396c90014281516",
    "app_id": "invoke-ai/InvokeAI",
    "app_version": "2.3.0",
    "image": {
        "prompt": [{"prompt": "a castle on a hill [fog, blurry]", "weight": 1.0}],
        "steps": 50,
        "cfg_scale": 7.5,
        "threshold": 0,
        "perlin": 0,
        "height": 512,
        "width": 512,
        "seed": 3357757885,
        "seamless": False,
        "hires_fix": False,
        "type": "txt2img",
        "postprocessing": None,
        "sampler": "k_lms",
        "variations": [],
    },
}
DREAM = '"a castle on a hill [fog, blurry]" -s 50 -S 3357757885 -W 512 -H 512 -C 7.5 -A k_lms'
FOOOCUS = {
    "adm_guidance": "(1.5, 0.8, 0.3)",
    "base_model": "juggernautXL_v8Rundiffusion.safetensors",
    "base_model_hash": "aeb7e9e689",
    "full_prompt": ["a cat wearing a wizard hat, cinematic"],
    "full_negative_prompt": ["(worst quality, low quality:1.4)"],
    "guidance_scale": 4,
    "negative_prompt": "ugly",
    "performance": "Speed",
    "prompt": "a cat wearing a wizard hat",
    "refiner_model": "None",
    "resolution": "(1152, 896)",
    "sampler": "dpmpp_2m_sde_gpu",
    "scheduler": "karras",
    "seed": "8613547393461716",
    "sharpness": 2,
    "steps": 30,
    "styles": "['Fooocus V2', 'Fooocus Enhance', 'Fooocus Sharp']",
    "version": "Fooocus v2.5.5",
}
NOVELAI_COMMENT = {
    "prompt": "1girl, silver hair, night city, neon",
    "steps": 28,
    "height": 1216,
    "width": 832,
    "scale": 5.0,
    "uncond_scale": 1.0,
    "cfg_rescale": 0.0,
    "seed": 1668787245,
    "n_samples": 1,
    "noise_schedule": "native",
    "sampler": "k_euler_ancestral",
    "sm": False,
    "sm_dyn": False,
    "uc": "lowres, bad anatomy, bad hands",
    "request_type": "PromptGenerateRequest",
    "signed_hash": "c2lnbmF0dXJl",
}


def invokeai_png() -> bytes:
    graph = {"id": "graph", "nodes": {}, "edges": []}
    return png(
        noise(11),
        text={
            "invokeai_metadata": json.dumps(INVOKEAI_METADATA),
            "invokeai_graph": json.dumps(graph),
        },
    )


def invokeai2_png() -> bytes:
    return png(noise(12), text={"sd-metadata": json.dumps(SD_METADATA), "Dream": DREAM})


def fooocus_png() -> bytes:
    return png(noise(13), text={"parameters": json.dumps(FOOOCUS), "fooocus_scheme": "fooocus"})


def novelai_png() -> bytes:
    return png(
        noise(14),
        text={
            "Title": "AI generated image",
            "Description": NOVELAI_COMMENT["prompt"],
            "Software": "NovelAI",
            "Source": "Stable Diffusion XL C1E1DE52",
            "Generation time": "1.8",
            "Comment": json.dumps(NOVELAI_COMMENT),
        },
    )

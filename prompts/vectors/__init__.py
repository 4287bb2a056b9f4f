"""Nearest-prompt search behind one small interface: ``add``, ``remove``, ``search``.

`PromptEmbedding.vector` (float32 bytes, every database) is the truth; an index is a fast view
of it that can always be rebuilt. Three backends, chosen by `vector_index`:

- `PgVectorIndex` (PostgreSQL): the ``embedding vector(n)`` column that migration 0002 adds
  beside the BLOB, with an HNSW index on cosine distance. ``hnsw.ef_search`` comes from
  `SEARCH_HNSW_EF_SEARCH`; iterative scans (pgvector 0.8) keep filtered searches full.
- `NumpyIndex` (SQLite up to `SEARCH_USEARCH_MIN_VECTORS`): every vector of the current model
  in one matrix per process, searched exactly by a matrix product.
- `UsearchIndex` (SQLite from `SEARCH_USEARCH_MIN_VECTORS` on): an f16 HNSW index (usearch) in
  memory, saved next to the database file as a rebuildable cache.

Both SQLite backends mirror the table in process: before each search a change token
(migration 0004, renewed by triggers on every write) says whether anything changed; if so,
changed rows are reloaded and deletions dropped.

Filters apply inside the search: ``within`` is a queryset of allowed prompt ids (for example
"prompts of the portrait images by this model"), so the k results are k matching prompts.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from prompts.embeddings import embedding_model_name
from prompts.models import PromptEmbedding
from prompts.vectors.base import Hit, VectorIndex
from prompts.vectors.memory import (
    NumpyIndex,
    UsearchIndex,
    embeddings_version,
    usearch_available,
    usearch_index_class,
)
from prompts.vectors.pgvector import PgVectorIndex, vector_schema_ensure

__all__ = [
    "Hit",
    "NumpyIndex",
    "PgVectorIndex",
    "UsearchIndex",
    "VectorIndex",
    "embeddings_version",
    "usearch_available",
    "usearch_index_class",
    "vector_index",
    "vector_schema_ensure",
]

_numpy_index = NumpyIndex()
_usearch_index = UsearchIndex()
_pg_index = PgVectorIndex()
_sqlite_count: dict[str, tuple[int | None, int]] = {}


def _sqlite_vector_count() -> int:
    """How many current vectors SQLite holds; counted again only after a write."""
    version, model = embeddings_version(), embedding_model_name()
    cached = _sqlite_count.get(model)
    if cached is not None and version is not None and cached[0] == version:
        return cached[1]
    count = PromptEmbedding.objects.filter(model=model).count()
    _sqlite_count.clear()
    _sqlite_count[model] = (version, count)
    return count


def vector_index() -> VectorIndex:
    """The backend for the default database: pgvector; or, on SQLite, exact numpy search up to
    `SEARCH_USEARCH_MIN_VECTORS` vectors and the usearch HNSW cache from there on (0: never)."""
    if connection.vendor == "postgresql":
        return _pg_index
    threshold = settings.SEARCH_USEARCH_MIN_VECTORS
    if threshold and usearch_available() and _sqlite_vector_count() >= threshold:
        if _numpy_index._size():
            _numpy_index.clear()
        return _usearch_index
    return _numpy_index

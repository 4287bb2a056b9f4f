"""Nearest-prompt search behind one small interface: ``add``, ``remove``, ``search``.

`PromptEmbedding.vector` (float32 bytes, every database) is the truth; an index is a fast view
of it that can always be rebuilt. Two backends, chosen by the database vendor:

- `PgVectorIndex` (PostgreSQL): the ``embedding vector(n)`` column that migration 0002 adds
  beside the BLOB, with an HNSW index on cosine distance. ``hnsw.ef_search`` comes from
  `SEARCH_HNSW_EF_SEARCH`; iterative scans (pgvector 0.8) keep filtered searches full.
- `NumpyIndex` (SQLite and anything else): every vector of the current model in one matrix per
  process, searched exactly by a matrix product. Before each search one cheap query
  (count, latest ``updated``) tells whether other processes changed rows; changed rows are
  reloaded, a deletion triggers a full reload.

Filters apply inside the search: ``within`` is a queryset of allowed prompt ids (for example
"prompts of the portrait images by this model"), so the k results are k matching prompts.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from typing import Protocol

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, QuerySet

from prompts.embeddings import embedding_model_name, vector_from_bytes
from prompts.models import PromptEmbedding

Hit = tuple[int, float]  # (prompt id, cosine similarity)


class VectorIndex(Protocol):
    def add(self, *, prompt_ids: Sequence[int], vectors: np.ndarray) -> None: ...

    def remove(self, *, prompt_ids: Collection[int]) -> None: ...

    def search(
        self,
        *,
        vector: np.ndarray,
        k: int,
        within: QuerySet | None = None,
        exclude: Collection[int] = (),
    ) -> list[Hit]: ...


def _vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form, ``[0.1,0.2,...]``, the input every pgvector version accepts."""
    return "[" + ",".join(f"{x:.7g}" for x in np.asarray(vector, dtype=np.float32)) + "]"


class PgVectorIndex:
    """pgvector HNSW (cosine) over the ``embedding`` column of ``prompts_promptembedding``."""

    def add(self, *, prompt_ids: Sequence[int], vectors: np.ndarray) -> None:
        """Copy freshly stored BLOB rows into the vector column (same transaction)."""
        if not len(prompt_ids):
            return
        rows = ",".join(["(%s, %s::vector)"] * len(prompt_ids))
        params: list[object] = []
        for prompt_id, vector in zip(prompt_ids, vectors, strict=True):
            params += [int(prompt_id), _vector_literal(vector)]
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE prompts_promptembedding AS e SET embedding = v.vec "
                f"FROM (VALUES {rows}) AS v(id, vec) WHERE e.prompt_id = v.id",
                params,
            )

    def remove(self, *, prompt_ids: Collection[int]) -> None:
        """Nothing to do: the column lives in the embedding row, which CASCADE deletes."""

    def search(
        self,
        *,
        vector: np.ndarray,
        k: int,
        within: QuerySet | None = None,
        exclude: Collection[int] = (),
    ) -> list[Hit]:
        where = ["e.model = %s", "e.embedding IS NOT NULL"]
        literal = _vector_literal(vector)
        params: list[object] = [embedding_model_name()]
        if within is not None:
            sub_sql, sub_params = within.order_by().query.sql_with_params()
            where.append(f"e.prompt_id IN ({sub_sql})")
            params += list(sub_params)
        if exclude:
            where.append("NOT (e.prompt_id = ANY(%s))")
            params.append([int(i) for i in exclude])
        sql = (
            "SELECT e.prompt_id, 1 - (e.embedding <=> %s::vector) FROM prompts_promptembedding e "
            f"WHERE {' AND '.join(where)} ORDER BY e.embedding <=> %s::vector LIMIT %s"
        )
        with connection.cursor() as cursor:
            # Session settings, one round trip: the search breadth, and iterative scans so that
            # a filter that rejects most neighbours still yields k rows (pgvector >= 0.8).
            cursor.execute(
                "SELECT set_config('hnsw.ef_search', %s, false), "
                "set_config('hnsw.iterative_scan', 'relaxed_order', false)",
                [str(max(settings.SEARCH_HNSW_EF_SEARCH, k))],
            )
            cursor.execute(sql, [literal, *params, literal, int(k)])
            rows = cursor.fetchall()
        # relaxed_order may return neighbours slightly out of order: sort them exactly.
        return sorted(((int(pid), float(sim)) for pid, sim in rows), key=lambda h: -h[1])


class NumpyIndex:
    """Exact cosine search in memory, shared by the threads of one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model = ""
        self._ids = np.zeros(0, dtype=np.int64)
        self._matrix = np.zeros((0, settings.EMBEDDING_DIMENSIONS), dtype=np.float32)
        self._position: dict[int, int] = {}
        self._seen: tuple[int, object] = (0, None)

    def _rows(self) -> QuerySet:
        return PromptEmbedding.objects.filter(model=embedding_model_name())

    def _load(self, rows: QuerySet) -> tuple[np.ndarray, np.ndarray]:
        pairs = list(rows.values_list("prompt_id", "vector"))
        ids = np.fromiter((p for p, _ in pairs), dtype=np.int64, count=len(pairs))
        matrix = np.zeros((len(pairs), settings.EMBEDDING_DIMENSIONS), dtype=np.float32)
        for row, (_, blob) in enumerate(pairs):
            matrix[row] = vector_from_bytes(blob)
        return ids, matrix

    def _set(self, ids: np.ndarray, matrix: np.ndarray) -> None:
        self._ids, self._matrix = ids, matrix
        self._position = {int(p): i for i, p in enumerate(ids)}

    def refresh(self) -> None:
        """Bring the matrix up to date with the table (one small query when nothing changed)."""
        state = self._rows().aggregate(n=Count("*"), latest=Max("updated"))
        seen = (state["n"], state["latest"])
        with self._lock:
            if seen == self._seen and self._model == embedding_model_name():
                return
            previous_latest = self._seen[1]
            if self._model != embedding_model_name() or previous_latest is None:
                self._set(*self._load(self._rows()))
            else:
                ids, matrix = self._load(self._rows().filter(updated__gte=previous_latest))
                new = [i for i, p in enumerate(ids) if int(p) not in self._position]
                for i, p in enumerate(ids):
                    if int(p) in self._position:
                        self._matrix[self._position[int(p)]] = matrix[i]
                if new:
                    self._set(
                        np.concatenate([self._ids, ids[new]]),
                        np.concatenate([self._matrix, matrix[new]]),
                    )
                if len(self._ids) != seen[0]:  # rows were deleted: start again
                    self._set(*self._load(self._rows()))
            self._model = embedding_model_name()
            self._seen = seen

    def add(self, *, prompt_ids: Sequence[int], vectors: np.ndarray) -> None:
        """Nothing to write: the BLOB rows are the index's source; `refresh` picks them up."""

    def remove(self, *, prompt_ids: Collection[int]) -> None:
        """Forget the in-process copy at once (other processes notice on their next search)."""
        with self._lock:
            self._seen = (0, None)

    def search(
        self,
        *,
        vector: np.ndarray,
        k: int,
        within: QuerySet | None = None,
        exclude: Collection[int] = (),
    ) -> list[Hit]:
        self.refresh()
        with self._lock:
            ids, matrix = self._ids, self._matrix
        if not len(ids):
            return []
        scores = matrix @ np.asarray(vector, dtype=np.float32)
        allowed = np.ones(len(ids), dtype=bool)
        if within is not None:
            allowed &= np.isin(ids, np.fromiter(within.order_by(), dtype=np.int64))
        if exclude:
            allowed &= ~np.isin(ids, np.asarray(list(exclude), dtype=np.int64))
        candidates = np.flatnonzero(allowed)
        if len(candidates) > k:
            top = np.argpartition(-scores[candidates], k - 1)[:k]
            candidates = candidates[top]
        order = candidates[np.argsort(-scores[candidates], kind="stable")]
        return [(int(ids[i]), float(scores[i])) for i in order]


def vector_schema_ensure() -> bool:
    """Make pgvector's column match `EMBEDDING_DIMENSIONS` (after a model change); True if rebuilt.

    The column is typed ``vector(n)``: a model with another dimension needs a new column and
    HNSW index, which the re-embedding then fills. A no-op on other databases.
    """
    if connection.vendor != "postgresql":
        return False
    dimensions = int(settings.EMBEDDING_DIMENSIONS)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT atttypmod FROM pg_attribute "
            "WHERE attrelid = 'prompts_promptembedding'::regclass "
            "AND attname = 'embedding' AND NOT attisdropped"
        )
        row = cursor.fetchone()
        if row is not None and row[0] == dimensions:
            return False
        cursor.execute("DROP INDEX IF EXISTS prompts_promptembedding_hnsw")
        cursor.execute("ALTER TABLE prompts_promptembedding DROP COLUMN IF EXISTS embedding")
        cursor.execute(
            f"ALTER TABLE prompts_promptembedding ADD COLUMN embedding vector({dimensions})"
        )
        cursor.execute(
            "CREATE INDEX prompts_promptembedding_hnsw ON prompts_promptembedding "
            "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
        )
        cursor.execute("DELETE FROM prompts_promptembedding")
    return True


_numpy_index = NumpyIndex()
_pg_index = PgVectorIndex()


def vector_index() -> VectorIndex:
    """The backend for the default database's vendor."""
    return _pg_index if connection.vendor == "postgresql" else _numpy_index

"""PostgreSQL: pgvector's ``embedding vector(n)`` column with an HNSW index (cosine)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import QuerySet

from prompts.embeddings import embedding_model_name
from prompts.vectors.base import Hit


def hnsw_expression(column: str = "embedding") -> str:
    """What the HNSW index holds: the vectors cast to ``halfvec`` (float16). Half the size of
    float32 elements (1.2 instead of 2 GB at a million prompts, so more of it stays cached),
    with the same recall@10 (migration 0008). A search must order by this very expression to
    use the index."""
    return f"{column}::halfvec({int(settings.EMBEDDING_DIMENSIONS)})"


def hnsw_index_sql() -> str:
    """The CREATE INDEX of the search's HNSW index (cosine; m and ef_construction as 0007)."""
    return (
        "CREATE INDEX prompts_promptembedding_hnsw ON prompts_promptembedding USING hnsw "
        f"(({hnsw_expression()}) halfvec_cosine_ops) WITH (m = 24, ef_construction = 128)"
    )


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
        # The HNSW index is over half-precision copies (`hnsw_expression`): it orders the
        # candidates; each hit's score is the exact float32 cosine, from the row itself.
        sql = (
            "SELECT e.prompt_id, 1 - (e.embedding <=> %s::vector) FROM prompts_promptembedding e "
            f"WHERE {' AND '.join(where)} ORDER BY {hnsw_expression('e.embedding')} <=> "
            f"%s::halfvec({int(settings.EMBEDDING_DIMENSIONS)}) LIMIT %s"
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
        # Kept in the row (migration 0008): search recomputes exact scores from it.
        cursor.execute(
            "ALTER TABLE prompts_promptembedding ALTER COLUMN embedding SET STORAGE MAIN"
        )
        cursor.execute(hnsw_index_sql())
        cursor.execute("DELETE FROM prompts_promptembedding")
    return True

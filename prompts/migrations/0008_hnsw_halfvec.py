"""PostgreSQL: the HNSW index over half-precision copies of the vectors, and the full-precision
vectors kept in the table row.

Two measured costs of a vector search (bench/README.md, "halfvec"):

- The index held float32 vectors: 1.5 KB per element, ~2 GB at a million prompts, and every
  step of a graph search reads an element. Indexed as ``halfvec`` (float16, an expression
  index on ``embedding::halfvec(n)``), elements are half the size; at 100k real prompts the
  index shrank from 195 to 116 MB, the build took 53 s instead of 73 s, a search at ef_search
  400 took 8.8 ms instead of 12.5 (p50), and recall@10 did not move (0.996); at a million
  prompts the index is 1.2 GB instead of 2 GB (a search there costs what it did: it visits as
  many elements). The column stays float32: the search recomputes each hit's exact cosine
  from it and orders by that.
- That recomputation read the vector from TOAST: a row with the BLOB, the style BLOB and the
  vector is over PostgreSQL's 2 KB threshold, and the vector, the largest value of storage
  "external", was moved out of line for every row, so 200 hits meant 200 more index lookups
  in the TOAST table. With storage "main" the vector stays in the row and the BLOBs, which
  search does not read, go out of line instead. This applies to rows written from now on;
  `manage.py reindex_embeddings` rewrites the old ones.

The new index is built CONCURRENTLY and then takes the old one's name, as in 0007 (give the
server ``maintenance_work_mem`` for the graph: 1-2 GB at a million prompts now). SQLite and
others: nothing to do.
"""

from django.db import migrations

HALFVEC = (
    "CREATE INDEX CONCURRENTLY prompts_promptembedding_hnsw_new ON prompts_promptembedding "
    "USING hnsw ((embedding::halfvec({n})) halfvec_cosine_ops) WITH (m = 24, ef_construction = 128)"
)
VECTOR = (
    "CREATE INDEX CONCURRENTLY prompts_promptembedding_hnsw_new ON prompts_promptembedding "
    "USING hnsw (embedding vector_cosine_ops) WITH (m = 24, ef_construction = 128)"
)


def _dimensions(schema_editor) -> int:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = "
            "'prompts_promptembedding'::regclass AND attname = 'embedding' AND NOT attisdropped"
        )
        return int(cursor.fetchone()[0])


def _rebuild(schema_editor, ddl: str, storage: str) -> None:
    schema_editor.execute(f"ALTER TABLE prompts_promptembedding ALTER COLUMN embedding SET STORAGE {storage}")
    # A build that failed half way leaves an invalid index under the new name: start afresh.
    schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS prompts_promptembedding_hnsw_new")
    schema_editor.execute(ddl)
    schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS prompts_promptembedding_hnsw")
    schema_editor.execute(
        "ALTER INDEX prompts_promptembedding_hnsw_new RENAME TO prompts_promptembedding_hnsw"
    )


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        _rebuild(schema_editor, HALFVEC.format(n=_dimensions(schema_editor)), "MAIN")


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        _rebuild(schema_editor, VECTOR, "EXTERNAL")


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("prompts", "0007_hnsw_build"),
    ]

    operations = [migrations.RunPython(forward, backward)]

"""PostgreSQL: rebuild the HNSW index with a denser graph (m 24, ef_construction 128).

Migration 0002 built it with pgvector's defaults (m 16, ef_construction 64). At a million
prompts that graph found 0.88 of the exact 10 nearest neighbours at ef_search 200 and only 0.90
at 400 (bench/README.md, "1M"): the search breadth was not the limit, the graph was. Each
vector now keeps more neighbours (m) chosen from a wider search when inserted
(ef_construction); the build is slower (bench/README.md has the figures).

The new index is built CONCURRENTLY beside the old one and then takes its name, so searches
and embedding writes go on during a build that takes many minutes at a million prompts (a
plain DROP + CREATE would lock the table for all of it); the disk holds both for a while. Give
the server enough ``maintenance_work_mem`` for the graph (4 GB was enough for a million
384-d vectors) and, on more cores, ``max_parallel_maintenance_workers``. SQLite and others: nothing to do.
"""

from django.db import migrations

HNSW = (
    "CREATE INDEX CONCURRENTLY prompts_promptembedding_hnsw_new ON prompts_promptembedding "
    "USING hnsw (embedding vector_cosine_ops) WITH (m = {m}, ef_construction = {ef})"
)


def _rebuild(schema_editor, m: int, ef: int) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    # A build that failed half way leaves an invalid index under the new name: start afresh.
    schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS prompts_promptembedding_hnsw_new")
    schema_editor.execute(HNSW.format(m=m, ef=ef))
    schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS prompts_promptembedding_hnsw")
    schema_editor.execute(
        "ALTER INDEX prompts_promptembedding_hnsw_new RENAME TO prompts_promptembedding_hnsw"
    )


def forward(apps, schema_editor):
    _rebuild(schema_editor, m=24, ef=128)


def backward(apps, schema_editor):
    _rebuild(schema_editor, m=16, ef=64)


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("prompts", "0006_embedding_style_vector"),
    ]

    operations = [migrations.RunPython(forward, backward)]

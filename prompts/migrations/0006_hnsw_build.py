"""PostgreSQL: rebuild the HNSW index with a denser graph (m 24, ef_construction 128).

Migration 0002 built it with pgvector's defaults (m 16, ef_construction 64). At a million
prompts that graph found 0.88 of the exact 10 nearest neighbours at ef_search 200 and only 0.90
at 400 (bench/README.md, "1M"): the search breadth was not the limit, the graph was. Each
vector now keeps more neighbours (m) chosen from a wider search when inserted
(ef_construction); the build is slower and the index somewhat larger. On a large table this
migration takes as long as that build (bench/README.md has the figures): give the session
enough ``maintenance_work_mem`` for the graph (~2.5 KB a vector at 384 dimensions) and, on
more cores, ``max_parallel_maintenance_workers``. SQLite and other databases: nothing to do.
"""

from django.db import migrations

HNSW = (
    "CREATE INDEX prompts_promptembedding_hnsw ON prompts_promptembedding "
    "USING hnsw (embedding vector_cosine_ops) WITH (m = {m}, ef_construction = {ef})"
)


def _rebuild(schema_editor, m: int, ef: int) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS prompts_promptembedding_hnsw")
        schema_editor.execute(HNSW.format(m=m, ef=ef))


def forward(apps, schema_editor):
    _rebuild(schema_editor, m=24, ef=128)


def backward(apps, schema_editor):
    _rebuild(schema_editor, m=16, ef=64)


class Migration(migrations.Migration):
    dependencies = [
        ("prompts", "0005_prompt_search_vector"),
    ]

    operations = [migrations.RunPython(forward, backward)]

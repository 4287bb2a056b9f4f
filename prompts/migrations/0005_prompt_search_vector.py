"""PostgreSQL: a stored ``tsvector`` of each prompt, GIN-indexed, for keyword search.

The keyword side ranked with ``ts_rank_cd(to_tsvector('english', atelier_fold(text)), q)``:
the GIN index found the matches, but ranking re-parsed the text of every matching prompt, and
a query of common words ("portrait", "detailed") matches a large share of the gallery (31 ms
p50 and most of the 550 ms API p95 at 100k prompts). A generated column holds the parsed
vector once, written by PostgreSQL itself on every insert and update; the ranking reads it.
SQLite keeps FTS5 (migration 0002); other databases get nothing.
"""

from django.db import migrations

POSTGRES_FORWARD = [
    """ALTER TABLE prompts_prompt ADD COLUMN search_vector tsvector
        GENERATED ALWAYS AS (to_tsvector('english', atelier_fold(text))) STORED""",
    "CREATE INDEX prompts_prompt_search_vector ON prompts_prompt USING gin (search_vector)",
    "DROP INDEX IF EXISTS prompts_prompt_text_tsv",
]
POSTGRES_BACKWARD = [
    """CREATE INDEX IF NOT EXISTS prompts_prompt_text_tsv ON prompts_prompt
        USING gin (to_tsvector('english', atelier_fold(text)))""",
    "DROP INDEX IF EXISTS prompts_prompt_search_vector",
    "ALTER TABLE prompts_prompt DROP COLUMN IF EXISTS search_vector",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRES_FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRES_BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("prompts", "0004_embedding_change_counter"),
    ]

    operations = [migrations.RunPython(forward, backward)]

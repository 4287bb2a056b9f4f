"""SQLite: a change token for the embedding table, renewed by triggers.

Each numpy (or usearch) search starts by asking whether another process changed the vectors.
``COUNT(*), MAX(updated)`` over the ``(model, updated)`` index still reads every index entry
(12 ms at 100k rows, 120 ms at 1M); one row bumped by triggers on every insert, update and
delete of ``prompts_promptembedding`` answers in microseconds, whatever writes (ORM, CASCADE
deletes, raw SQL). The new value is random, not +1: a rolled-back transaction puts the old
value back, and a counter could then return to a value an index had already seen (with other
rows); a random 64-bit value does not come back. PostgreSQL needs none (pgvector searches the
table itself).
"""

from django.db import migrations

SQLITE_FORWARD = [
    "CREATE TABLE prompts_embedding_changes (id INTEGER PRIMARY KEY, version INTEGER NOT NULL)",
    "INSERT INTO prompts_embedding_changes (id, version) VALUES (1, 0)",
    *(
        f"""CREATE TRIGGER prompts_embedding_changes_{name} AFTER {event}
            ON prompts_promptembedding BEGIN
            UPDATE prompts_embedding_changes SET version = random() WHERE id = 1; END"""
        for name, event in (("ai", "INSERT"), ("au", "UPDATE"), ("ad", "DELETE"))
    ),
]
SQLITE_BACKWARD = [
    *(f"DROP TRIGGER IF EXISTS prompts_embedding_changes_{name}" for name in ("ai", "au", "ad")),
    "DROP TABLE IF EXISTS prompts_embedding_changes",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("prompts", "0003_embedding_model_updated_index"),
    ]

    operations = [migrations.RunPython(forward, backward)]

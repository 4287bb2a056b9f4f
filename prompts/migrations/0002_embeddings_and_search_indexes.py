"""Prompt embeddings, plus the database-specific search structures.

SQLite: an FTS5 table over prompt text, kept in step by triggers (so every write path, admin
and raw SQL included, keeps it current). PostgreSQL: the pgvector extension, a ``vector``
column with an HNSW index (cosine) beside the float32 BLOB, and a GIN full-text index on the
prompt text (english, accents folded). Other databases get only the table (no keyword search).
"""

import unicodedata

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

SQLITE_FORWARD = [
    """CREATE VIRTUAL TABLE prompts_prompt_fts USING fts5(
        text, content='prompts_prompt', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER prompts_prompt_fts_ai AFTER INSERT ON prompts_prompt BEGIN
        INSERT INTO prompts_prompt_fts(rowid, text) VALUES (new.id, new.text); END""",
    """CREATE TRIGGER prompts_prompt_fts_ad AFTER DELETE ON prompts_prompt BEGIN
        INSERT INTO prompts_prompt_fts(prompts_prompt_fts, rowid, text)
        VALUES ('delete', old.id, old.text); END""",
    """CREATE TRIGGER prompts_prompt_fts_au AFTER UPDATE OF text ON prompts_prompt BEGIN
        INSERT INTO prompts_prompt_fts(prompts_prompt_fts, rowid, text)
        VALUES ('delete', old.id, old.text);
        INSERT INTO prompts_prompt_fts(rowid, text) VALUES (new.id, new.text); END""",
    "INSERT INTO prompts_prompt_fts(prompts_prompt_fts) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS prompts_prompt_fts_ai",
    "DROP TRIGGER IF EXISTS prompts_prompt_fts_ad",
    "DROP TRIGGER IF EXISTS prompts_prompt_fts_au",
    "DROP TABLE IF EXISTS prompts_prompt_fts",
]


def _accent_map():
    """Latin letters with diacritics (U+00C0 to U+017F) and their plain ASCII letter."""
    pairs = {"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D"}
    for code in range(0xC0, 0x180):
        char = chr(code)
        base = unicodedata.normalize("NFKD", char)[0]
        if base != char and base.isascii() and base.isalpha():
            pairs[char] = base
    return "".join(pairs), "".join(pairs.values())


_ACCENTED, _PLAIN = _accent_map()


def postgres_forward(dimensions):
    return [
        "CREATE EXTENSION IF NOT EXISTS vector",
        f"ALTER TABLE prompts_promptembedding ADD COLUMN embedding vector({int(dimensions)})",
        """CREATE INDEX prompts_promptembedding_hnsw ON prompts_promptembedding
            USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)""",
        # Accents folded (no extension needed: pgserver and some hosts lack unaccent), so
        # "beksinski" finds "Beksiński" as on SQLite; the query side calls the same function.
        f"""CREATE FUNCTION atelier_fold(value text) RETURNS text
            LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
            RETURN translate(value, '{_ACCENTED}', '{_PLAIN}')""",
        """CREATE INDEX prompts_prompt_text_tsv ON prompts_prompt
            USING gin (to_tsvector('english', atelier_fold(text)))""",
    ]


POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS prompts_prompt_text_tsv",
    "DROP FUNCTION IF EXISTS atelier_fold(text)",
    "DROP INDEX IF EXISTS prompts_promptembedding_hnsw",
    "ALTER TABLE prompts_promptembedding DROP COLUMN IF EXISTS embedding",
]


def _run(schema_editor, statements):
    for statement in statements:
        schema_editor.execute(statement)


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        _run(schema_editor, SQLITE_FORWARD)
    elif vendor == "postgresql":
        _run(schema_editor, postgres_forward(settings.EMBEDDING_DIMENSIONS))


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        _run(schema_editor, SQLITE_BACKWARD)
    elif vendor == "postgresql":
        _run(schema_editor, POSTGRES_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("prompts", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="PromptEmbedding",
            fields=[
                (
                    "prompt",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="embedding",
                        serialize=False,
                        to="prompts.prompt",
                    ),
                ),
                ("model", models.CharField(max_length=200)),
                ("dimensions", models.PositiveSmallIntegerField()),
                ("vector", models.BinaryField()),
                ("text_hash", models.CharField(max_length=64)),
                ("updated", models.DateTimeField(db_index=True)),
            ],
        ),
        migrations.RunPython(forward, backward),
    ]

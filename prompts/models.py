"""Prompts: the text people copy, search and remix."""

from __future__ import annotations

from django.db import models


class Prompt(models.Model):
    """One distinct (prompt, negative prompt) pair, shared by every image that used it.

    ``normalized`` is the pair after `prompts.text.normalize_prompt` (case, whitespace,
    separators), and ``hash`` its SHA-256: two prompts that differ only in those respects are
    the same row, so "images that use this prompt" finds them all.
    """

    text = models.TextField()
    negative_text = models.TextField(blank=True, default="")
    normalized = models.TextField(editable=False)
    hash = models.CharField(max_length=64, unique=True, editable=False)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.text[:80]


class PromptEmbedding(models.Model):
    """The sentence embedding of one prompt's text: the source of truth for semantic search.

    ``vector`` holds unit-length float32 bytes on every database, so SQLite needs no extension
    and the vector indexes (numpy in memory, pgvector's HNSW column added by migration 0002 on
    PostgreSQL only) can be rebuilt from it. ``model`` names the embedder: a row made by another
    model is stale, ignored by search and re-embedded. ``text_hash`` is the SHA-256 of the
    embedded text, so re-running the embedding of an unchanged prompt is a no-op.

    ``style_vector`` is the embedding of the prompt's style part (`prompts.embeddings.
    prompt_style_text`: artists, mediums, lighting, camera, quality tags), what "Explore this
    style" compares; it has no index of its own (see `prompts.selectors.prompts_nearest_style`).
    NULL means not embedded yet (rows from before it existed: the backfill fills them), and
    empty bytes mean the style part is the whole prompt, so ``vector`` serves for both.
    """

    prompt = models.OneToOneField(
        Prompt, on_delete=models.CASCADE, primary_key=True, related_name="embedding"
    )
    model = models.CharField(max_length=200)
    dimensions = models.PositiveSmallIntegerField()
    vector = models.BinaryField()
    # Nullable: rows written before it existed, and bulk loads that leave it to the backfill.
    style_vector = models.BinaryField(null=True, blank=True)
    text_hash = models.CharField(max_length=64)
    # Indexed: the in-memory index of each process reloads only rows changed since its last look.
    updated = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [
            # The numpy index's "anything changed?" check (count and latest of one model) reads
            # this index alone instead of the table: 91 -> 12 ms at 100k vectors.
            models.Index(fields=["model", "updated"], name="embedding_model_updated"),
        ]

    def __str__(self) -> str:
        return f"Embedding of prompt {self.prompt_id} ({self.model})"

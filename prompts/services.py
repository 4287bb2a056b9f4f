"""Writes for prompts: the rows, and the embeddings that follow them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.utils import timezone

from prompts.embeddings import (
    embedding_model_name,
    prompt_style_text,
    text_hash,
    texts_embed,
    vector_to_bytes,
)
from prompts.models import Prompt, PromptEmbedding
from prompts.selectors import prompts_missing_embedding
from prompts.text import prompt_pair_key
from prompts.vectors import vector_index

logger = logging.getLogger(__name__)


def prompt_get_or_create(*, text: str, negative_text: str = "") -> Prompt:
    """Return the row for this prompt pair, creating it the first time it is seen.

    Safe under concurrency: two workers storing the same prompt at once end with one row.
    """
    normalized, digest = prompt_pair_key(text, negative_text)
    existing = Prompt.objects.filter(hash=digest).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            prompt = Prompt.objects.create(
                text=text.replace("\x00", "").strip(),
                negative_text=negative_text.replace("\x00", "").strip(),
                normalized=normalized,
                hash=digest,
            )
    except IntegrityError:
        return Prompt.objects.get(hash=digest)
    # Embedding costs ~15 ms of CPU a prompt: a worker does it once the row is committed. A lost
    # message is not lost work: the periodic backfill embeds whatever is still missing.
    transaction.on_commit(lambda: prompt_embeddings_enqueue(prompt_ids=[prompt.id]))
    return prompt


def prompt_embeddings_enqueue(*, prompt_ids: list[int]) -> None:
    """Ask a worker to embed these prompts (call after their rows are committed)."""
    from prompts.tasks import embed_prompts

    try:
        embed_prompts.delay([int(i) for i in prompt_ids])
    except Exception:
        # A broker outage must not fail the write that created the prompt.
        logger.warning("broker unavailable: prompts %s wait for the embedding backfill", prompt_ids)


def prompt_embeddings_update(*, prompt_ids: Iterable[int], force: bool = False) -> int:
    """Embed the given prompts whose vector is missing, from another model, or of older text,
    and fill the style vector of those that have a current vector but no style vector yet.

    Both vectors of a prompt are written together, from one batch through the embedder: the
    whole prompt (similar images, search) and its style part (`prompt_style_text`, "Explore
    this style"). A style part that is the whole prompt is stored as empty bytes, meaning "same
    as ``vector``". Rows from before style vectors existed only have their style part embedded.
    Idempotent: an up-to-date prompt is skipped (unless ``force``), a deleted one is ignored.
    Texts shared by several prompt rows (same prompt, other negatives) are embedded once.
    Returns how many rows were written.
    """
    ids = sorted({int(i) for i in prompt_ids})
    prompts = list(Prompt.objects.filter(id__in=ids).only("id", "text"))
    current = {
        prompt_id: (digest, has_style)
        for prompt_id, digest, has_style in PromptEmbedding.objects.filter(
            prompt_id__in=ids, model=embedding_model_name()
        )
        .annotate(
            has_style=ExpressionWrapper(Q(style_vector__isnull=False), output_field=BooleanField())
        )
        .values_list("prompt_id", "text_hash", "has_style")
    }
    todo, style_only = [], []
    for p in prompts:
        digest, has_style = current.get(p.id, (None, False))
        if force or digest != text_hash(p.text):
            todo.append(p)
        elif not has_style:
            style_only.append(p)
    if not todo and not style_only:
        return 0
    style_of = {p.text: prompt_style_text(text=p.text) for p in todo + style_only}
    texts = sorted({p.text for p in todo} | {s for t, s in style_of.items() if s != t})
    by_text = dict(zip(texts, texts_embed(texts=texts), strict=True))

    def style_bytes(text: str) -> bytes:
        style = style_of[text]
        return b"" if style == text else vector_to_bytes(by_text[style])

    vectors = [by_text[p.text] for p in todo]
    model_name = embedding_model_name()  # after embedding: a failed ONNX load falls back to torch
    now = timezone.now()
    rows = [
        PromptEmbedding(
            prompt_id=p.id,
            model=model_name,
            dimensions=len(vector),
            vector=vector_to_bytes(vector),
            style_vector=style_bytes(p.text),
            text_hash=text_hash(p.text),
            updated=now,
        )
        for p, vector in zip(todo, vectors, strict=True)
    ]
    styles = [PromptEmbedding(prompt_id=p.id, style_vector=style_bytes(p.text)) for p in style_only]
    with transaction.atomic():
        PromptEmbedding.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["prompt"],
            update_fields=["model", "dimensions", "vector", "style_vector", "text_hash", "updated"],
        )
        # The prompt vector is unchanged, so the vector indexes have nothing to learn.
        PromptEmbedding.objects.bulk_update(styles, ["style_vector"], batch_size=500)
        vector_index().add(prompt_ids=[p.id for p in todo], vectors=vectors)
    return len(todo) + len(style_only)


def prompt_embeddings_backfill(
    *,
    everything: bool = False,
    batch_size: int | None = None,
    limit: int | None = None,
    after_id: int = 0,
    on_batch: Callable[[int, int], None] | None = None,
) -> int:
    """Embed, in batches by ascending id, every prompt still missing a current vector (or its
    style vector: `prompts_missing_embedding`).

    Resumable: each batch commits on its own, so a run stopped half way leaves half the work
    done, and the next run (or ``after_id``) starts where it ended. ``everything`` re-embeds
    every prompt. ``on_batch(last_id, written)`` reports progress. Returns vectors written.
    """
    size = batch_size or settings.EMBEDDING_BATCH_SIZE * 4
    pending = Prompt.objects.all() if everything else prompts_missing_embedding()
    written = 0
    seen = 0
    while limit is None or seen < limit:
        take = size if limit is None else min(size, limit - seen)
        ids = list(
            pending.filter(id__gt=after_id).order_by("id").values_list("id", flat=True)[:take]
        )
        if not ids:
            break
        written += prompt_embeddings_update(prompt_ids=ids, force=everything)
        seen += len(ids)
        after_id = ids[-1]
        if on_batch is not None:
            on_batch(after_id, len(ids))
    return written

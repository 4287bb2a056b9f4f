"""Reads for prompts."""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.db.models import Q, QuerySet

from prompts.embeddings import (
    embedding_model_name,
    prompt_style_text,
    query_embed,
    vector_from_bytes,
)
from prompts.models import Prompt, PromptEmbedding
from prompts.vectors import Hit, vector_index

# Cosine similarity of whole prompts above which two are the same text: a duplicate, not a match.
DUPLICATE_SIMILARITY = 0.999


def prompts_missing_embedding() -> QuerySet[Prompt]:
    """Prompts with no vector from the configured model (new ones, or all after a model change),
    or with no style vector yet (rows embedded before style vectors existed)."""
    return Prompt.objects.filter(
        Q(embedding__isnull=True)
        | ~Q(embedding__model=embedding_model_name())
        | Q(embedding__style_vector__isnull=True)
    )


def _stored_vectors(
    prompt_vector: bytes | memoryview, style_vector: bytes | memoryview | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """A row's (prompt vector, style vector); empty style bytes mean "same as the prompt"."""
    vector = vector_from_bytes(prompt_vector)
    if style_vector is None:
        return vector, None
    return vector, (vector if not len(style_vector) else vector_from_bytes(style_vector))


def prompts_nearest(*, prompt_id: int, text: str, limit: int) -> list[Hit]:
    """The ``limit`` prompts nearest to this one as whole prompts (subject and style), nearest
    first: "Similar images". The prompt itself and exact duplicates are left out.

    Searches with the stored vector (no embedding on the request path), or embeds ``text`` when
    the worker has not stored one yet.
    """
    stored = (
        PromptEmbedding.objects.filter(prompt_id=prompt_id, model=embedding_model_name())
        .values_list("vector", flat=True)
        .first()
    )
    vector = vector_from_bytes(stored) if stored is not None else query_embed(text=text)
    hits = vector_index().search(vector=vector, k=limit + 1, exclude=[prompt_id])
    return [hit for hit in hits if hit[1] < DUPLICATE_SIMILARITY][:limit]


def prompts_nearest_style(*, prompt_id: int, text: str) -> list[Hit]:
    """Prompts whose style part is nearest to this prompt's, whatever their subject: (prompt id,
    cosine of the style vectors), nearest first. "Explore this style" ranks with it.

    Two stages, so that style costs no second vector index (a second HNSW at 1M prompts would
    double the index build time and memory): the whole-prompt index, searched with this
    prompt's style vector, brings `SEARCH_STYLE_CANDIDATES` prompts (a prompt sharing the
    style words is near it even when its subject differs); those are then ranked by the cosine
    of the stored style vectors, read in one query. A candidate not yet given a style vector by
    the backfill keeps its first-stage score. The prompt itself and exact duplicates of it
    (whole-prompt cosine >= `DUPLICATE_SIMILARITY`) are left out; many prompts share a style
    part exactly, so only the whole prompt can tell a duplicate. Returns every candidate left,
    so the caller's visibility filter still leaves enough.

    The first stage misses matches, since a whole-prompt vector is mostly its subject: at 10k
    prompts, 300 candidates hold 0.39 of the exact style top 24 (0.13 without the re-rank) and
    0.54 of the near-identical styles (bench/style_candidates.py, bench/README.md).
    """
    model = embedding_model_name()
    own = (
        PromptEmbedding.objects.filter(prompt_id=prompt_id, model=model)
        .values_list("vector", "style_vector")
        .first()
    )
    vector, style = _stored_vectors(*own) if own is not None else (query_embed(text=text), None)
    if style is None:  # not embedded yet: embed the style part now (cached per process)
        style_text = prompt_style_text(text=text)
        style = vector if style_text == text else query_embed(text=style_text)
    first = vector_index().search(
        vector=style, k=settings.SEARCH_STYLE_CANDIDATES, exclude=[prompt_id]
    )
    rows = PromptEmbedding.objects.filter(
        prompt_id__in=[pid for pid, _ in first], model=model
    ).values_list("prompt_id", "vector", "style_vector")
    first_scores = dict(first)
    stored = {pid: _stored_vectors(blob, style_blob) for pid, blob, style_blob in rows}
    ranked: list[Hit] = []
    for pid, first_score in first:
        if pid not in stored:
            continue  # deleted since the index saw it
        candidate, candidate_style = stored[pid]
        if float(candidate @ vector) >= DUPLICATE_SIMILARITY:
            continue
        score = first_score if candidate_style is None else float(candidate_style @ style)
        ranked.append((pid, score))
    # Prompts with the very same style part tie: the one whose whole text is nearer the style
    # (less subject around it) comes first.
    ranked.sort(key=lambda hit: (-hit[1], -first_scores[hit[0]], -hit[0]))
    return ranked

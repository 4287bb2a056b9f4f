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
from prompts.keywords import prompts_keyword_search
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
    double the index build time and memory). Candidates come from two indexes that already
    exist: the whole-prompt vector index searched with this prompt's style vector (a prompt
    sharing the style words is near it even when its subject differs), and the keyword index
    searched with the style part's words (every word must match: the prompts that carry the
    very same modifiers, whatever subject surrounds them, which the vector side misses when
    the subject is long), `SEARCH_STYLE_CANDIDATES` from each. They are then ranked by the
    cosine of the stored style vectors, read in one query. A candidate not yet given a style
    vector by the backfill is ranked by its whole-prompt vector. The prompt itself and exact
    duplicates of it (whole-prompt cosine >= `DUPLICATE_SIMILARITY`) are left out; many prompts
    share a style part exactly, so only the whole prompt can tell a duplicate. Returns every
    candidate left, so the caller's visibility filter still leaves enough.

    Still an approximation of an exact style search: bench/style_candidates.py measures how
    much of the exact top 24 it finds (bench/README.md).
    """
    model = embedding_model_name()
    own = (
        PromptEmbedding.objects.filter(prompt_id=prompt_id, model=model)
        .values_list("vector", "style_vector")
        .first()
    )
    vector, style = _stored_vectors(*own) if own is not None else (query_embed(text=text), None)
    style_text = prompt_style_text(text=text)
    if style is None:  # not embedded yet: embed the style part now (cached per process)
        style = vector if style_text == text else query_embed(text=style_text)
    k = settings.SEARCH_STYLE_CANDIDATES
    candidates = [pid for pid, _ in vector_index().search(vector=style, k=k, exclude=[prompt_id])]
    if style_text != text:  # an all-subject prompt has no modifiers to look up
        lexical = prompts_keyword_search(query=style_text, k=k + 1)
        candidates += [pid for pid, _ in lexical if pid != prompt_id]
    rows = PromptEmbedding.objects.filter(prompt_id__in=set(candidates), model=model).values_list(
        "prompt_id", "vector", "style_vector"
    )
    ranked: list[tuple[int, float, float]] = []
    for pid, blob, style_blob in rows:  # a candidate deleted since the index saw it is gone
        candidate, candidate_style = _stored_vectors(blob, style_blob)
        if float(candidate @ vector) >= DUPLICATE_SIMILARITY:
            continue
        whole = float(candidate @ style)
        ranked.append(
            (pid, whole if candidate_style is None else float(candidate_style @ style), whole)
        )
    # Prompts with the very same style part tie: the one whose whole text is nearer the style
    # (less subject around it) comes first.
    ranked.sort(key=lambda hit: (-hit[1], -hit[2], -hit[0]))
    return [(pid, score) for pid, score, _ in ranked]

"""Celery tasks for prompts: thin, ID-taking, idempotent (see `prompts.services`)."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from prompts.services import prompt_embeddings_backfill, prompt_embeddings_update

# One beat run embeds at most this many prompts; the next run goes on.
BACKFILL_LIMIT_PER_RUN = 5000


@shared_task(
    name="prompts.embed_prompts",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def embed_prompts(prompt_ids: list[int]) -> int:
    """Embed these prompts if their vector is missing or stale; return how many were written."""
    return prompt_embeddings_update(prompt_ids=prompt_ids)


@shared_task(name="prompts.embed_missing", ignore_result=True)
def embed_missing() -> int:
    """Catch up on prompts whose message was lost, or all of them after a model change."""
    return prompt_embeddings_backfill(limit=BACKFILL_LIMIT_PER_RUN)

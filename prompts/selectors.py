"""Reads for prompts."""

from __future__ import annotations

from django.db.models import QuerySet

from prompts.embeddings import embedding_model_name
from prompts.models import Prompt


def prompts_missing_embedding() -> QuerySet[Prompt]:
    """Prompts with no vector from the configured model (new ones, or all after a model change)."""
    return Prompt.objects.exclude(embedding__model=embedding_model_name())

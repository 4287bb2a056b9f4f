"""Reads for prompts."""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet

from prompts.models import Prompt


def prompts_missing_embedding() -> QuerySet[Prompt]:
    """Prompts with no vector from the configured model (new ones, or all after a model change)."""
    return Prompt.objects.exclude(embedding__model=settings.EMBEDDING_MODEL)

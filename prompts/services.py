"""Writes for prompts."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from prompts.models import Prompt
from prompts.text import prompt_pair_key


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
            return Prompt.objects.create(
                text=text.replace("\x00", "").strip(),
                negative_text=negative_text.replace("\x00", "").strip(),
                normalized=normalized,
                hash=digest,
            )
    except IntegrityError:
        return Prompt.objects.get(hash=digest)

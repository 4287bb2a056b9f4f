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

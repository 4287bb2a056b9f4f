"""Prompt tools over gallery images: combining the prompts of images, and remix lineage.

`prompts.remix` works on text; this module turns image ids into prompts (only images the
viewer may see: another user's private image is "no image N", as a 404 would say) and reads the
lineage that generation records (`Image.parents`, and ``Image.extra["Remix"]``: the strategy
and which phrase came from which parent).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from gallery.models import Image
from gallery.selectors import image_list, images_visible
from prompts.remix import (
    MAX_SOURCES,
    CombineError,
    CombineResult,
    PhraseDiff,
    SourcePrompt,
    prompt_combine,
    prompt_diff,
)

Viewer = AbstractBaseUser | AnonymousUser | None


def remix_sources_resolve(*, sources: list[Any], user: Viewer) -> list[SourcePrompt]:
    """Image ids and ``{"prompt", "negative_prompt"}`` objects as `SourcePrompt` s.

    An image source is labelled with its id, a text source with its position in the list.
    Raises `CombineError` for an id the viewer cannot see (or that does not exist).
    """
    if len(sources) > MAX_SOURCES:
        raise CombineError(f"Combine takes 2 to {MAX_SOURCES} sources, not {len(sources)}.")
    ids = [s for s in sources if isinstance(s, int)]
    images = {
        image.id: image
        for image in images_visible(user=user).filter(id__in=ids).select_related("prompt")
    }
    out: list[SourcePrompt] = []
    for index, source in enumerate(sources):
        if isinstance(source, int):
            image = images.get(source)
            if image is None:
                raise CombineError(f"There is no image {source}.")
            out.append(
                SourcePrompt(
                    prompt=image.prompt.text,
                    negative_prompt=image.prompt.negative_text,
                    label=image.id,
                )
            )
        else:
            out.append(
                SourcePrompt(
                    prompt=source.get("prompt", ""),
                    negative_prompt=source.get("negative_prompt", ""),
                    label=index,
                )
            )
    return out


def images_combine(
    *,
    sources: list[Any],
    user: Viewer,
    strategy: str = "merge",
    weights: list[float] | None = None,
    token_budget: int | None = None,
) -> tuple[CombineResult, list[SourcePrompt]]:
    """Combine the prompts of gallery images (and/or raw prompts); see `prompt_combine`."""
    resolved = remix_sources_resolve(sources=sources, user=user)
    options: dict[str, Any] = {"strategy": strategy, "weights": weights}
    if token_budget is not None:
        options["token_budget"] = token_budget
    return prompt_combine(sources=resolved, **options), resolved


# --- Lineage ---------------------------------------------------------------------------------


@dataclass
class ParentLink:
    """One parent of an image, what changed from it, and which phrases it gave."""

    image: Image
    diff: PhraseDiff
    phrases_given: list[str]
    #: A blend's share of this parent's prompt in the mixed embeddings (None: not blended).
    blend_share: float | None = None


def image_parents(*, image: Image, user: Viewer) -> list[ParentLink]:
    """The visible parents of an image, each with the phrase diff from its prompt."""
    remix = (image.extra or {}).get("Remix") or {}
    given: dict[int, list[str]] = {}
    for phrase in remix.get("phrases", []):
        if isinstance(phrase, dict) and isinstance(phrase.get("source"), int):
            given.setdefault(phrase["source"], []).append(str(phrase.get("text", "")))
    shares = {
        part["prompt"]: part["weight"]
        for part in remix.get("blend") or []
        if isinstance(part, dict) and isinstance(part.get("prompt"), str)
    }
    parents = image_list(user=user).filter(remixes=image).order_by("id")
    return [
        ParentLink(
            image=parent,
            diff=prompt_diff(parent=parent.prompt.text, child=image.prompt.text),
            phrases_given=given.get(parent.id, []),
            blend_share=shares.get(parent.prompt.text),
        )
        for parent in parents
    ]


def image_remixes(*, image: Image, user: Viewer) -> QuerySet[Image]:
    """Visible images made from this one, most liked first (then newest)."""
    return image_list(user=user).filter(parents=image).order_by("-like_count", "-created", "-id")

"""The prompt enhancer over the gallery: the prompts nearest an idea, their likes, examples.

`prompts.enhance` does the ranking on text; this module finds the neighbours (the vector
index of `prompts.vectors`, the same one search uses), keeps only prompts with images the
viewer can see, and adds each prompt's likes and most liked images as examples.
"""

from __future__ import annotations

from django.conf import settings

from gallery.models import Image
from gallery.remix import Viewer
from gallery.search import search_query_clean
from gallery.selectors import images_visible
from prompts.embeddings import query_embed
from prompts.enhance import EXAMPLES_PER_MODIFIER, Enhancement, Neighbour, prompt_enhance
from prompts.models import Prompt
from prompts.vectors import vector_index

#: How many nearest prompts the suggestions are learned from.
ENHANCE_NEIGHBOURS = 50
MAX_IDEA_CHARS = 500


class EnhanceError(ValueError):
    """An idea the enhancer cannot work with (the message says why, for a 400)."""


def idea_enhance(*, idea: str, user: Viewer, neighbours: int = ENHANCE_NEIGHBOURS) -> Enhancement:
    """Modifier suggestions and three enhanced prompts for a plain idea ("a photo of a cat")."""
    text = search_query_clean(idea)
    if not text:
        raise EnhanceError("Write an idea: a few words about the picture you want.")
    if len(text) > MAX_IDEA_CHARS:
        raise EnhanceError(f"An idea is at most {MAX_IDEA_CHARS} characters.")
    hits = [
        hit
        for hit in vector_index().search(vector=query_embed(text=text), k=neighbours)
        if hit[1] >= settings.SEARCH_MIN_SIMILARITY
    ]
    similarity = dict(hits)
    likes: dict[int, int] = {}
    examples: dict[int, list[int]] = {}
    rows = (
        images_visible(user=user)
        .filter(prompt_id__in=list(similarity))
        .order_by("-like_count", "-id")
        .values_list("id", "prompt_id", "like_count")
    )
    for image_id, prompt_id, like_count in rows:
        likes[prompt_id] = likes.get(prompt_id, 0) + like_count
        chosen = examples.setdefault(prompt_id, [])
        if len(chosen) < EXAMPLES_PER_MODIFIER:
            chosen.append(image_id)
    texts = dict(Prompt.objects.filter(id__in=list(examples)).values_list("id", "text"))
    found = [
        Neighbour(
            text=texts[prompt_id],
            similarity=similarity[prompt_id],
            likes=likes.get(prompt_id, 0),
            examples=tuple(examples[prompt_id]),
        )
        for prompt_id, _ in hits
        if prompt_id in texts
    ]
    return prompt_enhance(idea=text, neighbours=found)


def example_images(*, enhancement: Enhancement) -> dict[int, Image]:
    """The example images of every suggestion, loaded in one query."""
    ids = {i for group in enhancement.suggestions.values() for s in group for i in s.examples}
    return {
        image.id: image
        for image in Image.objects.filter(id__in=ids).only("id", "thumb_small", "width", "height")
    }

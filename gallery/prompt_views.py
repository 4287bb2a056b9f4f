"""HTML pages of the prompt tools: the enhancer."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from gallery.enhance import MAX_IDEA_CHARS, EnhanceError, example_images, idea_enhance


def enhance(request: HttpRequest) -> HttpResponse:
    """``/enhance/?idea=``: modifier suggestions by role with examples, and three prompts."""
    idea = request.GET.get("idea", "").strip()[:MAX_IDEA_CHARS]
    context: dict = {"idea": idea}
    if idea:
        try:
            enhancement = idea_enhance(idea=idea, user=request.user)
        except EnhanceError as exc:
            context["error"] = str(exc)
        else:
            images = example_images(enhancement=enhancement)
            context["groups"] = [
                (role, [(s, [images[i] for i in s.examples if i in images]) for s in group])
                for role, group in enhancement.suggestions.items()
            ]
            context["prompts"] = enhancement.prompts
    return render(request, "gallery/enhance.html", context)

"""HTML pages of the prompt tools: the enhancer, the modifier explorer."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from gallery.enhance import MAX_IDEA_CHARS, EnhanceError, example_images, idea_enhance
from gallery.models import Image
from gallery.modifiers import EXPLORER_IMAGES, TREND_MONTHS, modifiers_overview


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


_BARS = " ▁▂▃▄▅▆▇█"


def modifiers(request: HttpRequest) -> HttpResponse:
    """``/modifiers/``: the gallery's modifiers by role, with counts, trend and examples."""
    overview = modifiers_overview(user=request.user)
    ids = {i for group in overview.values() for s in group for i in s.examples}
    images = {
        image.id: image
        for image in Image.objects.filter(id__in=ids).only("id", "thumb_small", "width", "height")
    }
    groups = []
    for role, entries in overview.items():
        rows = []
        for entry in entries:
            peak = max(entry.trend) or 1
            spark = "".join(_BARS[round(8 * n / peak)] for n in entry.trend)
            rows.append((entry, spark, [images[i] for i in entry.examples if i in images]))
        groups.append((role, rows))
    return render(
        request,
        "gallery/modifiers.html",
        {"groups": groups, "sample": EXPLORER_IMAGES, "months": TREND_MONTHS},
    )

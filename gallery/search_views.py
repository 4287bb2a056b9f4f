"""HTML pages of search: the gallery with ``?q=``, and the image page's similar strips."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from config.pagination import RankedListPagination
from gallery.filters import ImageFilter, image_filters_active
from gallery.search import (
    SEARCH_ORDERINGS,
    SIMILAR_BY,
    images_for_hits,
    images_search,
    images_similar_to,
)
from gallery.selectors import image_get, image_list
from gallery.social.selectors import image_ids_liked

SIMILAR_STRIP_SIZE = 12


def _bad_request(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "gallery/error.html", {"message": message}, status=400)


def search_results(request: HttpRequest) -> HttpResponse:
    """The gallery grid for ``?q=``: best matches first (or newest, or top), same filters."""
    query = request.GET.get("q", "")
    ordering = request.GET.get("ordering") or "relevance"
    filterset = ImageFilter(request.GET, queryset=image_list(user=request.user))
    if ordering not in SEARCH_ORDERINGS or not filterset.is_valid():
        return _bad_request(request, "Those filters are not valid.")
    if len(query) > settings.SEARCH_MAX_QUERY_CHARS:
        return _bad_request(request, "That search is too long.")
    hits = images_search(
        query=query,
        images=filterset.qs,
        filtered=image_filters_active(filterset),
        ordering=ordering,
    )
    paginator = RankedListPagination()
    paginator.page_size = 30
    try:
        page = paginator.paginate_list(hits, Request(request))
    except ValidationError:
        return _bad_request(request, "That page link is broken or out of date.")
    images = images_for_hits(hits=page, user=request.user)
    context = {
        "images": images,
        "liked_ids": image_ids_liked(user=request.user, image_ids=[i.id for i in images]),
        "next_url": paginator.next_link(),
        "ordering": ordering,
        "filters": filterset.form,
        "query": query,
    }
    if request.htmx and request.GET.get("cursor"):
        return render(request, "gallery/_tiles.html", context)
    return render(request, "gallery/index.html", context)


def image_similar(request: HttpRequest, image_id: int) -> HttpResponse:
    """A strip of images near this one (``?by=prompt``) or in its style (``?by=style``)."""
    image = image_get(image_id=image_id, user=request.user)
    by = request.GET.get("by", "prompt")
    if by not in SIMILAR_BY:
        return _bad_request(request, "Unknown kind of similarity.")
    hits = images_similar_to(
        image=image, images=image_list(user=request.user), by=by, limit=SIMILAR_STRIP_SIZE
    )
    return render(
        request,
        "gallery/_similar.html",
        {"images": images_for_hits(hits=hits, user=request.user), "by": by},
    )

"""HTML pages of the gallery: the grid, an image, a profile, sign-up."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from config.pagination import KeysetPagination
from gallery.filters import ImageFilter, image_filters_given
from gallery.forms import SignupForm
from gallery.models import Image
from gallery.remix import image_parents, image_remixes
from gallery.search_views import search_results
from gallery.selectors import (
    DEFAULT_IMAGE_ORDERING,
    IMAGE_ORDERINGS,
    image_get,
    image_list,
    image_neighbours,
)
from gallery.uploads.selectors import upload_file_info
from prompts.anatomy import prompt_anatomy


class _GalleryOrdering:
    keyset_orderings = IMAGE_ORDERINGS
    default_keyset_ordering = DEFAULT_IMAGE_ORDERING


def _grid(
    request: HttpRequest,
    *,
    template: str,
    extra: dict | None = None,
    base_filter: dict | None = None,
) -> HttpResponse:
    """Render a page of the masonry grid; an htmx request gets only the next tiles."""
    queryset = image_list(user=request.user)
    if base_filter:
        queryset = queryset.filter(**base_filter)
    if image_filters_given(request.GET):
        filterset = ImageFilter(request.GET, queryset=queryset)
        if not filterset.is_valid():
            return render(
                request,
                "gallery/error.html",
                {"message": "Those filters are not valid."},
                status=400,
            )
        queryset = filterset.qs
    paginator = KeysetPagination()
    paginator.page_size = 30
    drf_request = Request(request)
    try:
        images = paginator.paginate_queryset(queryset, drf_request, _GalleryOrdering())
    except ValidationError:
        return render(
            request,
            "gallery/error.html",
            {"message": "That page link is broken or out of date."},
            status=400,
        )
    context = {
        "images": images,
        "next_url": paginator.next_link(),
        "ordering": request.GET.get("ordering", DEFAULT_IMAGE_ORDERING),
        **(extra or {}),
    }
    if request.htmx and request.GET.get("cursor"):
        return render(request, "gallery/_tiles.html", context)
    return render(request, template, context)


def gallery_index(request: HttpRequest) -> HttpResponse:
    """The gallery: newest first (or top), infinitely scrolling; ``?q=`` searches it."""
    if request.GET.get("q", "").strip():
        return search_results(request)
    return _grid(request, template="gallery/index.html")


def image_detail(request: HttpRequest, image_id: int) -> HttpResponse:
    """One image with its prompt (phrases highlighted by role), every parameter, copy buttons,
    keyboard navigation, and its lineage: the images it was remixed from (with a phrase diff
    against each) and the remixes of it, most liked first."""
    image = image_get(image_id=image_id, user=request.user)
    newer, older = image_neighbours(image=image, user=request.user)
    return render(
        request,
        "gallery/image_detail.html",
        {
            "image": image,
            "newer": newer,
            "older": older,
            "parents": image_parents(image=image, user=request.user)[:12],
            "remixes": list(image_remixes(image=image, user=request.user)[:12]),
            "anatomy": prompt_anatomy(image.prompt.text),
            "file_info": upload_file_info(image=image, user=request.user),
        },
    )


def profile(request: HttpRequest, username: str) -> HttpResponse:
    """A user's page: their images, newest first."""
    person = get_object_or_404(get_user_model(), username=username, is_active=True)
    return _grid(
        request,
        template="gallery/profile.html",
        extra={"person": person},
        base_filter={"owner": person},
    )


def signup(request: HttpRequest) -> HttpResponse:
    """Create an account and sign straight in."""
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "registration/signup.html", {"form": form})


def download(request: HttpRequest, image_id: int) -> HttpResponse:
    """Serve the original PNG as an attachment named after the image, not the storage key."""
    image: Image = image_get(image_id=image_id, user=request.user)
    handle = image.file.open("rb")
    return FileResponse(handle, as_attachment=True, filename=f"atelier-{image.id}.png")

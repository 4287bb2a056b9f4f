"""HTML pages of the gallery: the grid, an image, a profile, sign-up."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
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
from gallery.social.ratelimit import (
    RATE_LIMITED_MESSAGE,
    login_blocked,
    login_failed,
    signup_blocked,
)
from gallery.social.selectors import (
    collections_of_owner_with,
    image_ids_liked,
)
from gallery.uploads.selectors import upload_file_info
from prompts.anatomy import prompt_anatomy


class _GalleryOrdering:
    keyset_orderings = IMAGE_ORDERINGS
    default_keyset_ordering = DEFAULT_IMAGE_ORDERING


def grid_response(
    request: HttpRequest,
    *,
    template: str,
    extra: dict | None = None,
    images: QuerySet[Image] | None = None,
    orderings: type = _GalleryOrdering,
) -> HttpResponse:
    """Render a page of the masonry grid; an htmx request gets only the next tiles.

    ``images`` (default: the whole visible gallery) must come from the visibility selectors;
    owner and prompt are joined in here.
    """
    base = image_list(user=request.user) if images is None else images
    queryset = base.select_related("owner", "prompt")
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
        page = paginator.paginate_queryset(queryset, drf_request, orderings())
    except ValidationError:
        return render(
            request,
            "gallery/error.html",
            {"message": "That page link is broken or out of date."},
            status=400,
        )
    context = {
        "images": page,
        "liked_ids": image_ids_liked(user=request.user, image_ids=[i.id for i in page]),
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
    return grid_response(request, template="gallery/index.html", extra={"tab": "all"})


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
            # Lineage strips follow the same visibility rule as every other list.
            "parents": image_parents(image=image, user=request.user)[:12],
            "remixes": list(image_remixes(image=image, user=request.user)[:12]),
            "anatomy": prompt_anatomy(image.prompt.text),
            "file_info": upload_file_info(image=image, user=request.user),
            "edited_region": _edited_region(image),
            "liked_ids": image_ids_liked(user=request.user, image_ids=[image.id]),
            "save_to": collections_of_owner_with(user=request.user, image_id=image.id),
            "can_edit": request.user.is_authenticated
            and (request.user.pk == image.owner_id or request.user.is_staff),
        },
    )


def _edited_region(image: Image) -> dict | None:
    """The mask of an inpainted or outpainted image, from what the worker wrote in ``extra``.

    Generation stores the mask file and names it in ``extra["edit"]``; the gallery only reads
    that name, so it needs nothing from the generation app.
    """
    edit = image.extra.get("edit") if isinstance(image.extra, dict) else None
    if not isinstance(edit, dict) or not isinstance(edit.get("mask"), str) or not edit["mask"]:
        return None
    extend = edit.get("extend") if isinstance(edit.get("extend"), dict) else {}
    return {
        "mode": str(edit.get("mode", "")),
        "mask_url": default_storage.url(edit["mask"]),
        "extend": {side: amount for side, amount in extend.items() if amount},
    }


class LoginView(auth_views.LoginView):
    """Django's sign-in page, rate-limited per IP and per account (`gallery.social.ratelimit`).

    A blocked attempt is refused before the password is checked, so guessing gains nothing.
    """

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if login_blocked(request=request, username=request.POST.get("username", "")):
            context = self.get_context_data(
                form=self.form_class(request), rate_limited=RATE_LIMITED_MESSAGE
            )
            response = self.render_to_response(context)
            response.status_code = 429
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        login_failed(username=form.data.get("username", ""))
        return super().form_invalid(form)


def signup(request: HttpRequest) -> HttpResponse:
    """Create an account and sign straight in (passwords go through Django's validators)."""
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    if request.method == "POST" and signup_blocked(
        request=request, username=request.POST.get("username", "")
    ):
        context = {"form": SignupForm(), "rate_limited": RATE_LIMITED_MESSAGE}
        return render(request, "registration/signup.html", context, status=429)
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

"""HTML pages of the social layer: like and save buttons (htmx), the Following tab, profiles with
tabs, collections, settings, reports, image edit/delete and the staff moderation queue.

Every button is a plain form first (works without JavaScript, reachable by keyboard); htmx
swaps only the button's fragment when it is there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from gallery.models import Image
from gallery.selectors import image_get, images_visible, viewer_mature
from gallery.social import services
from gallery.social.forms import CollectionForm, ImageEditForm, ReportForm, SettingsForm
from gallery.social.selectors import (
    collection_get,
    collection_get_own,
    collection_images,
    collection_list,
    collections_of_owner_with,
    follow_counts,
    follow_exists,
    images_following,
    images_liked_by,
    images_remixes_by,
    moderation_image_get,
    moderation_queue,
    person_get,
    profile_of,
)
from gallery.uploads.safety import UploadRefused
from gallery.views import grid_response

PROFILE_TABS = ("images", "remixes", "collections", "likes")


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    """Redirect to ``next`` if it is one of ours, else to ``fallback``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = fallback
    return redirect(target or fallback)


def _own_image(request: HttpRequest, image_id: int) -> Image:
    image = image_get(image_id=image_id, user=request.user)
    if image.owner_id != request.user.pk and not request.user.is_staff:
        raise PermissionDenied
    return image


def _edit_page(
    request: HttpRequest,
    *,
    form: forms.Form,
    save: Callable[[dict[str, Any]], object],
    error_field: str,
    done: str,
    heading: str,
) -> HttpResponse:
    """GET shows the form; a valid POST calls ``save`` with the cleaned data and goes to
    ``done``; a refusal (`SocialError`) is shown on ``error_field``."""
    if request.method == "POST" and form.is_valid():
        try:
            save(form.cleaned_data)
        except services.SocialError as exc:
            form.add_error(error_field, exc.message)
        else:
            return redirect(done)
    return render(request, "social/form_page.html", {"form": form, "heading": heading})


# --- Likes -------------------------------------------------------------------------------------


@login_required
@require_POST
def like_toggle(request: HttpRequest, image_id: int) -> HttpResponse:
    """``action=like`` or ``action=unlike`` (explicit, so a double click cannot flip it back)."""
    image = image_get(image_id=image_id, user=request.user)
    if request.POST.get("action") == "unlike":
        count = services.like_delete(user=request.user, image=image)
        liked = False
    else:
        count = services.like_create(user=request.user, image=image)
        liked = True
    if request.htmx:
        image.like_count = count
        liked_ids = {image.id} if liked else set()
        return render(request, "social/_like.html", {"image": image, "liked_ids": liked_ids})
    return _back(request, reverse("gallery:image", args=[image.id]))


@login_required
def my_likes(request: HttpRequest) -> HttpResponse:
    """The images you liked (only you see this list)."""
    return grid_response(
        request,
        template="social/likes.html",
        images=images_liked_by(liker=request.user, user=request.user),
    )


@login_required
def following_feed(request: HttpRequest) -> HttpResponse:
    """The gallery's "Following" tab: new images by the people you follow, newest first."""
    return grid_response(
        request,
        template="gallery/index.html",
        images=images_following(user=request.user),
        extra={"tab": "following"},
    )


# --- Profiles ----------------------------------------------------------------------------------


def profile(request: HttpRequest, username: str) -> HttpResponse:
    """A person's page: avatar, bio, links, follow button; tabs for images, remixes,
    collections and likes (the likes tab exists for the owner only: 404 for everyone else)."""
    person = person_get(username=username)
    tab = request.GET.get("tab", "images")
    if tab not in PROFILE_TABS or (tab == "likes" and request.user.pk != person.pk):
        raise Http404
    context = {
        "person": person,
        "person_profile": profile_of(user=person),
        "tab": tab,
        "counts": follow_counts(user=person),
        "followed": follow_exists(follower=request.user, followee=person),
    }
    if tab == "collections":
        context["collections"] = list(collection_list(user=request.user).filter(owner=person))
        return render(request, "gallery/profile.html", context)
    if tab == "remixes":
        images = images_remixes_by(author=person, user=request.user)
    elif tab == "likes":
        images = images_liked_by(liker=person, user=request.user)
    else:
        images = images_visible(user=request.user).filter(owner=person)
    return grid_response(request, template="gallery/profile.html", images=images, extra=context)


@login_required
@require_POST
def follow_toggle(request: HttpRequest, username: str) -> HttpResponse:
    person = person_get(username=username)
    try:
        if request.POST.get("action") == "unfollow":
            services.follow_delete(follower=request.user, followee=person)
        else:
            services.follow_create(follower=request.user, followee=person)
    except services.SocialError as exc:
        messages.error(request, exc.message)
    if request.htmx:
        context = {
            "person": person,
            "followed": follow_exists(follower=request.user, followee=person),
            "counts": follow_counts(user=person),
        }
        return render(request, "social/_follow.html", context)
    return redirect("gallery:profile", username=person.username)


@login_required
def settings_page(request: HttpRequest) -> HttpResponse:
    """Your profile (avatar, bio, links) and whether to see mature images."""
    profile = profile_of(user=request.user)
    initial = {"bio": profile.bio, "links": "\n".join(profile.links), "mature": profile.mature}
    form = SettingsForm(request.POST or None, request.FILES or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                if data["avatar"] is not None:
                    services.avatar_set(user=request.user, data=data["avatar"].read())
                services.profile_update(
                    user=request.user,
                    changes={"bio": data["bio"], "links": data["links"], "mature": data["mature"]},
                )
            except services.SocialError as exc:
                form.add_error("mature", exc.message)
            except UploadRefused as exc:
                form.add_error("avatar", exc.message)
            else:
                messages.success(request, "Settings saved.")
                return redirect("social:settings")
        status = 400
    return render(
        request,
        "social/settings.html",
        {"form": form, "profile": profile, "effective": viewer_mature(user=request.user)},
        status=status,
    )


# --- Collections -------------------------------------------------------------------------------


def collection_detail(request: HttpRequest, collection_id: int) -> HttpResponse:
    collection = collection_get(collection_id=collection_id, user=request.user)
    return grid_response(
        request,
        template="social/collection.html",
        images=collection_images(collection=collection, user=request.user),
        extra={"collection": collection, "is_owner": collection.owner_id == request.user.pk},
    )


@login_required
def collection_new(request: HttpRequest) -> HttpResponse:
    form = CollectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            collection = services.collection_create(owner=request.user, **form.cleaned_data)
        except services.SocialError as exc:
            form.add_error("name", exc.message)
        else:
            image_id = request.POST.get("image")
            if image_id and image_id.isdigit():
                image = image_get(image_id=int(image_id), user=request.user)
                services.collection_image_add(collection=collection, image=image)
            return _back(request, reverse("social:collection", args=[collection.id]))
    return render(request, "social/form_page.html", {"form": form, "heading": "New collection"})


@login_required
def collection_edit(request: HttpRequest, collection_id: int) -> HttpResponse:
    collection = collection_get_own(collection_id=collection_id, user=request.user)
    initial = {name: getattr(collection, name) for name in ("name", "description", "visibility")}
    return _edit_page(
        request,
        form=CollectionForm(request.POST or None, initial=initial),
        save=lambda changes: services.collection_update(collection=collection, changes=changes),
        error_field="name",
        done=reverse("social:collection", args=[collection.id]),
        heading=f"Edit “{collection.name}”",
    )


@login_required
@require_POST
def collection_delete(request: HttpRequest, collection_id: int) -> HttpResponse:
    collection = collection_get_own(collection_id=collection_id, user=request.user)
    services.collection_delete(collection=collection)
    messages.success(request, f"Collection “{collection.name}” deleted.")
    return redirect(f"{reverse('gallery:profile', args=[request.user.username])}?tab=collections")


@login_required
@require_POST
def collection_image_toggle(
    request: HttpRequest, collection_id: int, image_id: int
) -> HttpResponse:
    """Add (``action=add``) or remove (``action=remove``) an image from one of your collections."""
    collection = collection_get_own(collection_id=collection_id, user=request.user)
    image = image_get(image_id=image_id, user=request.user)
    if request.POST.get("action") == "remove":
        services.collection_image_remove(collection=collection, image=image)
    else:
        services.collection_image_add(collection=collection, image=image)
    if request.htmx:
        return save_menu(request, image.id)
    return _back(request, reverse("social:collection", args=[collection.id]))


@login_required
def save_menu(request: HttpRequest, image_id: int) -> HttpResponse:
    """The "Save to collection" menu of an image: your collections, ticked where it is in."""
    image = image_get(image_id=image_id, user=request.user)
    return render(
        request,
        "social/_save_menu.html" if request.htmx else "social/save.html",
        {
            "image": image,
            "save_to": collections_of_owner_with(user=request.user, image_id=image.id),
        },
    )


# --- Reports, editing, deleting, moderation ----------------------------------------------------


@login_required
def report(request: HttpRequest, image_id: int) -> HttpResponse:
    image = image_get(image_id=image_id, user=request.user)
    form = ReportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.report_create(reporter=request.user, image=image, **form.cleaned_data)
        except services.SocialError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Thank you: the moderators will look at it.")
            return redirect("gallery:index")
    return render(request, "social/report.html", {"form": form, "image": image})


@login_required
def image_edit(request: HttpRequest, image_id: int) -> HttpResponse:
    image = _own_image(request, image_id)
    initial = {
        "prompt": image.prompt.text,
        "negative_prompt": image.prompt.negative_text,
        "rating": image.rating,
    }
    return _edit_page(
        request,
        form=ImageEditForm(request.POST or None, initial=initial),
        save=lambda changes: services.image_update(image=image, changes=changes),
        error_field="prompt",
        done=reverse("gallery:image", args=[image.id]),
        heading=f"Edit image {image.id}",
    )


@login_required
def image_delete(request: HttpRequest, image_id: int) -> HttpResponse:
    """A confirmation page (GET), then the deletion (POST)."""
    image = _own_image(request, image_id)
    if request.method == "POST":
        services.image_delete(image=image)
        messages.success(request, "Image deleted.")
        return redirect("gallery:profile", username=request.user.username)
    return render(request, "social/image_delete.html", {"image": image})


@login_required
def moderation(request: HttpRequest) -> HttpResponse:
    """Staff: hidden and reported images, with restore / remove / re-rate buttons."""
    queue = list(moderation_queue(user=request.user)[:100])
    return render(
        request,
        "social/moderation.html",
        {"queue": queue, "ratings": Image.Rating.choices},
    )


@login_required
@require_POST
def moderation_act(request: HttpRequest, image_id: int) -> HttpResponse:
    image = moderation_image_get(image_id=image_id, user=request.user)
    action, note = request.POST.get("action"), request.POST.get("note", "")[:400]
    if action == "restore":
        services.moderation_restore(moderator=request.user, image=image, note=note)
    elif action == "remove":
        services.moderation_remove(moderator=request.user, image=image, note=note)
    elif action == "rate":
        try:
            services.moderation_rate(
                moderator=request.user,
                image=image,
                rating=request.POST.get("rating", ""),
                note=note,
            )
        except services.SocialError as exc:
            messages.error(request, exc.message)
    else:
        messages.error(request, "Unknown moderation action.")
    return redirect("social:moderation")

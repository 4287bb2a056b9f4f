"""Reads for the gallery. Every fetch of images goes through here, scoped to the viewer."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from gallery.models import Image, Profile

# name -> keyset sort key; every key ends with the primary key so the order is total.
IMAGE_ORDERINGS: dict[str, tuple[str, ...]] = {
    "-created": ("-created", "-id"),
    "-likes": ("-like_count", "-id"),
    "trending": ("-hot", "-id"),
}
DEFAULT_IMAGE_ORDERING = "-created"


def mature_allowed(*, user: AbstractBaseUser) -> bool:
    """Whether this account is old enough to be shown mature images at all."""
    age = timezone.now() - user.date_joined
    return age >= dt.timedelta(hours=settings.NSFW_MIN_ACCOUNT_AGE_HOURS)


def viewer_mature(*, user: AbstractBaseUser | AnonymousUser | None) -> str:
    """The viewer's effective `Profile.Mature` preference: what they chose, except that
    anonymous visitors and accounts younger than ``NSFW_MIN_ACCOUNT_AGE_HOURS`` get ``hide``.

    Read once per request: the answer is cached on the user object (`profile_update` clears it).
    """
    if user is None or not user.is_authenticated:
        return Profile.Mature.HIDE
    cached = getattr(user, "_atelier_mature", None)
    if cached is not None:
        return cached
    chosen = Profile.objects.filter(user=user).values_list("mature", flat=True).first()
    mature = chosen if chosen and mature_allowed(user=user) else Profile.Mature.HIDE
    user._atelier_mature = mature
    return mature


def images_visible(*, user: AbstractBaseUser | AnonymousUser | None = None) -> QuerySet[Image]:
    """The images this viewer may see: the one place visibility rules live.

    Every list (gallery, search, similar, feeds, profiles, collections, the API) starts here.
    Others' images show if not hidden by reports (staff see those too) and rated ``safe``;
    viewers who opted in to mature content also see suggestive, explicit and unrated ones
    (unrated counts as not safe). Owners always see their own images, whatever the rating.
    """
    if user is None or not user.is_authenticated:
        return Image.objects.filter(rating=Image.Rating.SAFE, hidden=False)
    rules = {} if user.is_staff else {"hidden": False}
    if viewer_mature(user=user) == Profile.Mature.HIDE:
        rules["rating"] = Image.Rating.SAFE
    if not rules:
        return Image.objects.all()
    return Image.objects.filter(Q(**rules) | Q(owner=user))


def image_list(*, user: AbstractBaseUser | AnonymousUser | None = None) -> QuerySet[Image]:
    """Visible images with what a tile or an API row shows joined in (one query a page)."""
    return images_visible(user=user).select_related("owner", "prompt")


# What a list row shows, read as plain values: building model instances was a third of a list
# request's CPU. `gallery.serializers.ImageSerializer` reads these keys.
IMAGE_ROW_FIELDS = (
    "id", "file", "thumb_small", "thumb_large", "width", "height", "prompt_id", "prompt__text",
    "prompt__negative_text", "model_name", "model_hash", "scheduler", "steps", "cfg_scale", "seed",
    "clip_skip", "extra", "source", "rating", "owner__username", "created", "like_count", "hot",
)  # fmt: skip


def image_rows(*, user: AbstractBaseUser | AnonymousUser | None = None) -> QuerySet:
    """Visible images as dicts of `IMAGE_ROW_FIELDS` (one query a page, no model instances)."""
    return images_visible(user=user).values(*IMAGE_ROW_FIELDS)


def image_get(*, image_id: int, user: AbstractBaseUser | AnonymousUser | None = None) -> Image:
    """One visible image, or Http404 (never a 403 that would confirm it exists)."""
    return get_object_or_404(image_list(user=user), pk=image_id)


def image_neighbours(
    *, image: Image, user: AbstractBaseUser | AnonymousUser | None = None
) -> tuple[Image | None, Image | None]:
    """The images before (newer) and after (older) this one in the newest-first gallery."""
    base = images_visible(user=user).only("id", "created")
    newer = (
        base.filter(Q(created__gt=image.created) | Q(created=image.created, id__gt=image.id))
        .order_by("created", "id")
        .first()
    )
    older = (
        base.filter(Q(created__lt=image.created) | Q(created=image.created, id__lt=image.id))
        .order_by("-created", "-id")
        .first()
    )
    return newer, older

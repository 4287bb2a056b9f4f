"""Reads of the social layer. Every image list here starts from `gallery.selectors.images_visible`,
so the NSFW and moderation rules apply to feeds, profiles, likes and collections alike."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from gallery.models import Collection, CollectionItem, Follow, Image, Like, Profile, Report
from gallery.selectors import images_visible

Viewer = AbstractBaseUser | AnonymousUser | None
COVER_SIZE = 4


def _signed_in(user: Viewer) -> bool:
    return user is not None and user.is_authenticated


def images_following(*, user: Viewer) -> QuerySet[Image]:
    """New images by the people this viewer follows (order: the caller's keyset, newest first).

    Two plans, chosen by how many people the viewer follows. Few: fetch their images by owner
    and sort them (a few hundred rows). Many (``FEED_WALK_MIN_FOLLOWS``): their newest images
    are among the newest of all, so walking the newest-first index and keeping their rows
    reads about 50/share rows; the planner cannot know that and would fetch and sort every
    image they ever made (11,000 rows for 1,000 follows in bench/social.py), so the owner
    column is hidden behind ``+ 0`` to take the owner indexes out of its choices.
    """
    if not _signed_in(user):
        return Image.objects.none()
    follows = Follow.objects.filter(follower=user)
    followees = follows.values("followee_id")
    images = images_visible(user=user)
    if follows.count() >= settings.FEED_WALK_MIN_FOLLOWS:
        return images.alias(owner_walk=F("owner_id") + 0).filter(owner_walk__in=followees)
    return images.filter(owner_id__in=followees)


def images_liked_by(*, liker: AbstractBaseUser, user: Viewer) -> QuerySet[Image]:
    """The images ``liker`` liked that this viewer may see."""
    return images_visible(user=user).filter(likes__user=liker)


def images_remixes_by(*, author: AbstractBaseUser, user: Viewer) -> QuerySet[Image]:
    """``author``'s images made from another image (their remixes)."""
    made_from = Image.parents.through.objects.values("from_image_id")
    return images_visible(user=user).filter(owner=author, id__in=made_from)


def image_ids_liked(*, user: Viewer, image_ids: Iterable[int]) -> set[int]:
    """Which of these images the viewer liked (one query; the tiles' filled hearts)."""
    if not _signed_in(user):
        return set()
    ids = list(image_ids)
    if not ids:
        return set()
    return set(Like.objects.filter(user=user, image_id__in=ids).values_list("image_id", flat=True))


def collections_visible(*, user: Viewer) -> QuerySet[Collection]:
    """Public collections, plus the viewer's own private ones."""
    if not _signed_in(user):
        return Collection.objects.filter(visibility=Collection.Visibility.PUBLIC)
    return Collection.objects.filter(Q(visibility=Collection.Visibility.PUBLIC) | Q(owner=user))


def collection_list(*, user: Viewer) -> QuerySet[Collection]:
    """Visible collections with owner, image count and cover (the first images the viewer may
    see, in the order they were added) loaded: three queries a page."""
    cover = (
        CollectionItem.objects.filter(image__in=images_visible(user=user))
        .select_related("image")
        .order_by("added", "id")
    )
    return (
        collections_visible(user=user)
        .select_related("owner")
        .annotate(image_count=Count("items", distinct=True))
        .prefetch_related(Prefetch("items", queryset=cover[:COVER_SIZE], to_attr="cover_items"))
    )


def collection_get(*, collection_id: int, user: Viewer) -> Collection:
    """One collection the viewer may see, or Http404 (a private one is not confirmed to exist)."""
    return get_object_or_404(collection_list(user=user), pk=collection_id)


def collection_get_own(*, collection_id: int, user: Viewer) -> Collection:
    """One of the viewer's own collections (to change it), or Http404: someone else's
    collection is 404 even when public, so the API never says "exists, but not yours"."""
    if not _signed_in(user):
        raise Http404
    return get_object_or_404(Collection, pk=collection_id, owner=user)


def collection_images(*, collection: Collection, user: Viewer) -> QuerySet[Image]:
    """The images of a collection that the viewer may see."""
    return images_visible(user=user).filter(collection_items__collection=collection)


def collections_of_owner_with(*, user: Viewer, image_id: int) -> list[tuple[Collection, bool]]:
    """The viewer's collections, each with whether it holds this image (the "Save" menu)."""
    if not _signed_in(user):
        return []
    holding = set(
        CollectionItem.objects.filter(collection__owner=user, image_id=image_id).values_list(
            "collection_id", flat=True
        )
    )
    collections = Collection.objects.filter(owner=user).order_by("name", "id")
    return [(c, c.id in holding) for c in collections]


def person_get(*, username: str) -> AbstractBaseUser:
    """An active user by name, or Http404."""
    return get_object_or_404(get_user_model(), username=username, is_active=True)


def profile_of(*, user: AbstractBaseUser) -> Profile:
    """The person's profile; an unsaved one with the defaults if they never edited it."""
    return Profile.objects.filter(user=user).first() or Profile(user=user)


def follow_exists(*, follower: Viewer, followee: AbstractBaseUser) -> bool:
    if not _signed_in(follower):
        return False
    return Follow.objects.filter(follower=follower, followee=followee).exists()


def follow_counts(*, user: AbstractBaseUser) -> dict[str, int]:
    """How many follow this person, and how many they follow."""
    return {
        "followers": Follow.objects.filter(followee=user).count(),
        "following": Follow.objects.filter(follower=user).count(),
    }


def reports_of(*, reporter: AbstractBaseUser) -> QuerySet[Report]:
    """A person's own reports (nobody sees anyone else's, staff aside)."""
    return Report.objects.filter(reporter=reporter).select_related("image")


def moderation_image_get(*, image_id: int, user: AbstractBaseUser) -> Image:
    """For staff: any image, whatever its rating or state (404 for everyone else)."""
    if not user.is_staff:
        raise Http404
    return get_object_or_404(Image.objects.select_related("owner", "prompt"), pk=image_id)


def moderation_queue(*, user: AbstractBaseUser) -> QuerySet[Image]:
    """For staff: hidden images and images with open reports, most reported first."""
    if not user.is_staff:
        raise Http404
    return (
        Image.objects.annotate(open_reports=Count("reports", filter=Q(reports__open=True)))
        .filter(Q(hidden=True) | Q(open_reports__gt=0))
        .select_related("owner", "prompt")
        .prefetch_related(
            Prefetch(
                "reports",
                queryset=Report.objects.filter(open=True).select_related("reporter"),
                to_attr="open_report_list",
            )
        )
        .order_by("-open_reports", "-id")
    )

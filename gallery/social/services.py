"""Writes of the social layer: likes, follows, collections, profiles, reports, moderation.

Views, API views and the admin call these; each takes keyword arguments and raises
`SocialError` (a sentence for the person) for a request that cannot be done.
"""

from __future__ import annotations

import io
import logging
import math
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, ProtectedError, Value
from django.db.models.functions import Greatest, Ln
from django.utils import timezone
from PIL import Image as PILImage

from gallery.models import (
    TRENDING_EPOCH,
    Collection,
    CollectionItem,
    Follow,
    Image,
    Like,
    ModerationAction,
    Profile,
    Report,
    Upload,
)
from gallery.selectors import mature_allowed
from gallery.services import files_delete, files_save
from gallery.uploads.safety import image_decode_untrusted
from prompts.models import Prompt
from prompts.services import prompt_get_or_create

logger = logging.getLogger(__name__)


class SocialError(Exception):
    """A request the rules refuse; ``message`` is shown to the person as it is."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- Likes -------------------------------------------------------------------------------------


def _likes_shift(*, image: Image, by: int) -> None:
    """Move the denormalised counter and the trending key by one like, in one UPDATE.

    ``F()`` makes the database add to the row's current value (after any concurrent writer's
    lock is released), so counts never get lost; in the SET clause ``like_count`` is the old
    value, hence ``like_count + 1 + by`` inside the logarithm (see `trending_score`).
    """
    age_units = (image.created - TRENDING_EPOCH).total_seconds() / (
        settings.TRENDING_HALF_LIFE_HOURS * 3600.0
    )
    Image.objects.filter(pk=image.pk).update(
        like_count=Greatest(F("like_count") + by, Value(0)),
        hot=Ln(Greatest(F("like_count") + (1 + by), Value(1))) / math.log(2) + age_units,
    )


def _like_count(image: Image) -> int:
    return Image.objects.values_list("like_count", flat=True).get(pk=image.pk)


def like_create(*, user: AbstractBaseUser, image: Image) -> int:
    """Like an image (idempotent); returns its like count.

    The unique constraint on (user, image) decides: a second like, even one racing the first
    from another process, fails its insert and changes nothing, counter included.
    """
    try:
        with transaction.atomic():
            Like.objects.create(user=user, image=image)
            _likes_shift(image=image, by=1)
    except IntegrityError:
        pass
    return _like_count(image)


def like_delete(*, user: AbstractBaseUser, image: Image) -> int:
    """Take a like back (idempotent); returns the image's like count."""
    with transaction.atomic():
        deleted, _ = Like.objects.filter(user=user, image=image).delete()
        if deleted:
            _likes_shift(image=image, by=-1)
    return _like_count(image)


# --- Follows -----------------------------------------------------------------------------------


def follow_create(*, follower: AbstractBaseUser, followee: AbstractBaseUser) -> None:
    """Follow someone (idempotent). Following yourself is refused."""
    if follower.pk == followee.pk:
        raise SocialError("You cannot follow yourself.")
    try:
        with transaction.atomic():
            Follow.objects.create(follower=follower, followee=followee)
    except IntegrityError:
        pass


def follow_delete(*, follower: AbstractBaseUser, followee: AbstractBaseUser) -> None:
    """Stop following someone (idempotent)."""
    Follow.objects.filter(follower=follower, followee=followee).delete()


# --- Collections -------------------------------------------------------------------------------


def collection_create(
    *, owner: AbstractBaseUser, name: str, description: str = "", visibility: str = "public"
) -> Collection:
    """A new, empty collection."""
    name = name.strip()
    if not name:
        raise SocialError("A collection needs a name.")
    return Collection.objects.create(
        owner=owner, name=name, description=description.strip(), visibility=visibility
    )


def collection_update(*, collection: Collection, changes: dict[str, Any]) -> Collection:
    """Rename, describe, or change who sees a collection (``name``, ``description``,
    ``visibility``; other keys are ignored)."""
    for field in ("name", "description", "visibility"):
        if field in changes:
            setattr(collection, field, str(changes[field]).strip())
    if not collection.name:
        raise SocialError("A collection needs a name.")
    collection.save()
    return collection


def collection_delete(*, collection: Collection) -> None:
    """Delete a collection; its images stay in the gallery."""
    collection.delete()


def collection_image_add(*, collection: Collection, image: Image) -> None:
    """Put an image in a collection (idempotent). The caller checked the owner may see it."""
    try:
        with transaction.atomic():
            CollectionItem.objects.create(collection=collection, image=image)
    except IntegrityError:
        return
    # A collection changes when its images do (lists sort by it).
    Collection.objects.filter(pk=collection.pk).update(updated=timezone.now())


def collection_image_remove(*, collection: Collection, image: Image) -> None:
    """Take an image out of a collection (idempotent)."""
    CollectionItem.objects.filter(collection=collection, image=image).delete()


# --- Profiles ----------------------------------------------------------------------------------


def profile_update(*, user: AbstractBaseUser, changes: dict[str, Any]) -> Profile:
    """Change ``bio``, ``links`` or the ``mature`` preference (values validated by the caller).

    Accounts younger than ``NSFW_MIN_ACCOUNT_AGE_HOURS`` cannot turn mature images on yet.
    """
    mature = changes.get("mature")
    if mature not in (None, Profile.Mature.HIDE) and not mature_allowed(user=user):
        hours = settings.NSFW_MIN_ACCOUNT_AGE_HOURS
        raise SocialError(
            f"New accounts see safe images only: this setting opens {hours} hours "
            "after you signed up."
        )
    profile, _ = Profile.objects.get_or_create(user=user)
    for field in ("bio", "links", "mature"):
        if field in changes:
            setattr(profile, field, changes[field])
    profile.save()
    user.__dict__.pop("_atelier_mature", None)
    return profile


def avatar_set(*, user: AbstractBaseUser, data: bytes) -> Profile:
    """Make an avatar from uploaded bytes through the uploads' safe decoder (our own re-encoding,
    no metadata kept): centre-cropped square, ``AVATAR_SIZE`` px WebP. Raises `UploadRefused`."""
    decoded = image_decode_untrusted(data=data, max_pixels=settings.MAX_IMAGE_PIXELS)
    pixels = decoded.pixels.convert("RGB")
    side = min(pixels.size)
    left, top = (pixels.width - side) // 2, (pixels.height - side) // 2
    size = settings.AVATAR_SIZE
    square = pixels.crop((left, top, left + side, top + side)).resize(
        (size, size), PILImage.Resampling.LANCZOS
    )
    buffer = io.BytesIO()
    square.save(buffer, format="WEBP", quality=85)
    stem = uuid.uuid4().hex
    (name,) = files_save([(f"avatars/{stem[:2]}/{stem}.webp", buffer.getvalue())])
    profile, _ = Profile.objects.get_or_create(user=user)
    old = profile.avatar.name
    profile.avatar = name
    profile.save(update_fields=["avatar"])
    transaction.on_commit(lambda: files_delete([old]))
    return profile


# --- Images: edit and delete -------------------------------------------------------------------


def _prompt_drop_if_unused(prompt_id: int) -> None:
    """Delete a prompt (and, by cascade, its embedding) once no image uses it."""
    if Image.objects.filter(prompt_id=prompt_id).exists():
        return
    try:
        with transaction.atomic():
            Prompt.objects.filter(pk=prompt_id).delete()
    except (ProtectedError, IntegrityError):
        logger.info("prompt %s is still used elsewhere; kept", prompt_id)


def image_update(*, image: Image, changes: dict[str, Any]) -> Image:
    """Edit an image's ``prompt``, ``negative_prompt`` or ``rating`` (its owner, or staff).

    A changed prompt pair points the image at that pair's row (made and embedded if new); the
    old row goes if nothing else uses it.
    """
    with transaction.atomic():
        if "prompt" in changes or "negative_prompt" in changes:
            text = changes.get("prompt", image.prompt.text)
            negative = changes.get("negative_prompt", image.prompt.negative_text)
            if not str(text).strip():
                raise SocialError("The prompt cannot be empty.")
            old_prompt = image.prompt_id
            image.prompt = prompt_get_or_create(text=text, negative_text=negative)
            image.save(update_fields=["prompt"])
            if old_prompt != image.prompt_id:
                _prompt_drop_if_unused(old_prompt)
        if "rating" in changes:
            image.rating = changes["rating"]
            image.save(update_fields=["rating"])
    return image


def image_delete(*, image: Image) -> None:
    """Delete an image, its files and thumbnails, its uploads' files, and its prompt and
    embedding if no other image uses them. Images made from it keep a "source deleted" mark.

    Files go once the transaction commits, so a rollback leaves nothing pointing at nothing.
    """
    with transaction.atomic():
        Image.objects.filter(parents=image).update(deleted_parents=F("deleted_parents") + 1)
        names = [image.file.name, image.thumb_small.name, image.thumb_large.name]
        uploads = Upload.objects.filter(image=image)
        for upload in uploads:
            names += [upload.file.name, upload.preview.name]
        uploads.delete()
        prompt_id = image.prompt_id
        image.delete()
        _prompt_drop_if_unused(prompt_id)
        transaction.on_commit(lambda: files_delete(names))


# --- Reports and moderation --------------------------------------------------------------------


def _log(*, image: Image, moderator: AbstractBaseUser | None, action: str, detail: str) -> None:
    ModerationAction.objects.create(
        image=image, image_ref=image.pk, moderator=moderator, action=action, detail=detail[:500]
    )


def report_create(
    *, reporter: AbstractBaseUser, image: Image, reason: str, note: str = ""
) -> Report:
    """Report an image (once per person: a second report updates the first).

    When ``REPORT_HIDE_THRESHOLD`` different people have open reports on it, the image is
    hidden pending review and the log says so (the conditional UPDATE hides it exactly once).
    """
    if image.owner_id == reporter.pk:
        raise SocialError("You cannot report your own image; delete or edit it instead.")
    with transaction.atomic():
        report, _ = Report.objects.update_or_create(
            image=image, reporter=reporter, defaults={"reason": reason, "note": note, "open": True}
        )
        open_reports = Report.objects.filter(image=image, open=True).count()
        over = open_reports >= settings.REPORT_HIDE_THRESHOLD
        if over and Image.objects.filter(pk=image.pk, hidden=False).update(hidden=True):
            image.hidden = True
            _log(
                image=image,
                moderator=None,
                action=ModerationAction.Action.HIDE,
                detail=f"{open_reports} open reports",
            )
    return report


def moderation_restore(*, moderator: AbstractBaseUser, image: Image, note: str = "") -> None:
    """Show a hidden image again and close its reports (they were looked at)."""
    with transaction.atomic():
        closed = Report.objects.filter(image=image, open=True).update(open=False)
        Image.objects.filter(pk=image.pk).update(hidden=False)
        image.hidden = False
        detail = f"{closed} reports closed" + (f": {note}" if note else "")
        _log(
            image=image, moderator=moderator, action=ModerationAction.Action.RESTORE, detail=detail
        )


def moderation_remove(*, moderator: AbstractBaseUser, image: Image, note: str = "") -> None:
    """Delete a reported image for good (the log keeps its id and the note)."""
    with transaction.atomic():
        _log(image=image, moderator=moderator, action=ModerationAction.Action.REMOVE, detail=note)
        image_delete(image=image)


def moderation_rate(
    *, moderator: AbstractBaseUser, image: Image, rating: str, note: str = ""
) -> None:
    """Change an image's rating as a moderator (overrides the uploader's choice)."""
    if rating not in Image.Rating.values:
        raise SocialError(f"Unknown rating {rating!r}.")
    with transaction.atomic():
        detail = f"{image.rating} -> {rating}" + (f": {note}" if note else "")
        Image.objects.filter(pk=image.pk).update(rating=rating)
        image.rating = rating
        _log(image=image, moderator=moderator, action=ModerationAction.Action.RATE, detail=detail)

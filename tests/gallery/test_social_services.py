"""Social writes and reads at service level: likes, follows, collections, profiles, reports,
moderation, deletion, and the one visibility rule (NSFW levels)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from gallery.models import Image, Like, ModerationAction, Profile, trending_score
from gallery.selectors import IMAGE_ORDERINGS, images_visible, viewer_mature
from gallery.social import services
from gallery.social.selectors import (
    collection_images,
    collection_list,
    collections_visible,
    images_following,
    images_liked_by,
)
from prompts.models import Prompt, PromptEmbedding

pytestmark = pytest.mark.django_db


def ids(queryset):
    return set(queryset.values_list("id", flat=True))


# --- Likes -------------------------------------------------------------------------------------


def test_a_like_counts_once_and_unlike_takes_it_back(make_image, bob):
    image = make_image()
    assert services.like_create(user=bob, image=image) == 1
    assert services.like_create(user=bob, image=image) == 1
    assert Like.objects.filter(image=image).count() == 1
    assert services.like_delete(user=bob, image=image) == 0
    assert services.like_delete(user=bob, image=image) == 0


def test_a_like_raises_the_trending_key_by_one_doubling(make_image, bob, charlie, settings):
    image = make_image()
    start = Image.objects.get(pk=image.pk).hot
    assert start == pytest.approx(
        trending_score(like_count=0, created=image.created, half_life_hours=12.0)
    )
    services.like_create(user=bob, image=image)
    assert Image.objects.get(pk=image.pk).hot == pytest.approx(start + 1.0)
    services.like_create(user=charlie, image=image)
    assert Image.objects.get(pk=image.pk).hot == pytest.approx(start + 1.584962500721156)
    services.like_delete(user=charlie, image=image)
    assert Image.objects.get(pk=image.pk).hot == pytest.approx(start + 1.0)


def test_trending_puts_a_fresh_liked_image_above_an_old_more_liked_one(
    make_image, django_user_model
):
    """GIVEN an image from three days ago with 8 likes and one from now with 2 likes
    THEN the new one trends higher (12 h half-life: 8 likes three days ago are worth ~0.03)."""
    old, new = make_image(prompt="old"), make_image(prompt="new")
    Image.objects.filter(pk=old.pk).update(created=timezone.now() - dt.timedelta(days=3))
    old.refresh_from_db()
    fans = [django_user_model.objects.create_user(f"fan{i}") for i in range(8)]
    for fan in fans:
        services.like_create(user=fan, image=old)
    for fan in fans[:2]:
        services.like_create(user=fan, image=new)
    trending = list(
        images_visible().order_by(*IMAGE_ORDERINGS["trending"]).values_list("id", flat=True)
    )
    top = list(images_visible().order_by(*IMAGE_ORDERINGS["-likes"]).values_list("id", flat=True))
    assert trending == [new.id, old.id]
    assert top == [old.id, new.id]


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_likes_from_one_user_leave_one_like_and_a_count_of_one(
    make_image, bob, charlie
):
    image = make_image()
    services.like_create(user=charlie, image=image)
    barrier = threading.Barrier(50)
    errors: list[BaseException] = []

    def like() -> None:
        try:
            barrier.wait()
            services.like_create(user=bob, image=image)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=like) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Like.objects.filter(image=image).count() == 2
    assert Image.objects.get(pk=image.pk).like_count == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_likes_and_unlikes_from_many_users_keep_the_count_exact(
    make_image, django_user_model
):
    image = make_image()
    users = [django_user_model.objects.create_user(f"u{i}") for i in range(20)]
    for user in users[:10]:
        services.like_create(user=user, image=image)

    def flip(user, like: bool) -> None:
        try:
            if like:
                services.like_create(user=user, image=image)
            else:
                services.like_delete(user=user, image=image)
        finally:
            connection.close()

    # The first ten unlike while the other ten like, all at once.
    threads = [threading.Thread(target=flip, args=(u, i >= 10)) for i, u in enumerate(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Like.objects.filter(image=image).count() == 10
    assert Image.objects.get(pk=image.pk).like_count == 10


# --- Visibility --------------------------------------------------------------------------------


@pytest.fixture
def rated(make_image, alice):
    return {
        rating: make_image(prompt=f"a {rating} fox", rating=rating)
        for rating in Image.Rating.values
    }


def test_anonymous_visitors_and_new_accounts_see_only_safe_images(rated, bob):
    safe = {rated["safe"].id}
    assert ids(images_visible(user=None)) == safe
    assert ids(images_visible(user=bob)) == safe
    services.profile_update(user=bob, changes={"mature": Profile.Mature.HIDE})
    with pytest.raises(services.SocialError, match="New accounts"):
        services.profile_update(user=bob, changes={"mature": Profile.Mature.SHOW})
    # Even a preference stored behind the service's back does not open it for a new account.
    Profile.objects.filter(user=bob).update(mature=Profile.Mature.SHOW)
    bob.__dict__.pop("_atelier_mature", None)
    assert viewer_mature(user=bob) == Profile.Mature.HIDE
    assert ids(images_visible(user=bob)) == safe


def test_an_opted_in_account_sees_every_rating_unrated_included(rated, bob, grown_up):
    grown_up(bob, Profile.Mature.BLUR)
    assert ids(images_visible(user=bob)) == {image.id for image in rated.values()}


def test_owners_always_see_their_own_images_whatever_the_rating(rated, alice, charlie):
    assert ids(images_visible(user=alice)) == {image.id for image in rated.values()}
    assert ids(images_visible(user=charlie)) == {rated["safe"].id}


# --- Follows and feeds -------------------------------------------------------------------------


def test_the_following_feed_shows_followed_people_only_and_respects_ratings(
    make_image, alice, bob, charlie
):
    alices = make_image(owner=alice, prompt="by alice")
    make_image(owner=alice, prompt="alice explicit", rating="explicit")
    make_image(owner=charlie, prompt="by charlie")
    services.follow_create(follower=bob, followee=alice)
    services.follow_create(follower=bob, followee=alice)
    assert ids(images_following(user=bob)) == {alices.id}
    services.follow_delete(follower=bob, followee=alice)
    assert ids(images_following(user=bob)) == set()


def test_both_feed_plans_list_the_same_images_newest_first(
    make_image, alice, bob, charlie, settings
):
    """The many-follows plan (walk the newest-first index) and the few-follows plan (fetch by
    owner, then sort) must agree: same images, same order."""
    for i in range(4):
        make_image(owner=alice if i % 2 else charlie, prompt=f"feed {i}")
    make_image(owner=bob, prompt="bob's own")
    services.follow_create(follower=bob, followee=alice)
    services.follow_create(follower=bob, followee=charlie)
    order = IMAGE_ORDERINGS["-created"]
    settings.FEED_WALK_MIN_FOLLOWS = 100
    few = list(images_following(user=bob).order_by(*order).values_list("id", flat=True))
    settings.FEED_WALK_MIN_FOLLOWS = 2
    many_plan = images_following(user=bob).order_by(*order)
    assert "+ 0" in str(many_plan.query).replace("+0", "+ 0")
    assert list(many_plan.values_list("id", flat=True)) == few
    assert len(few) == 4


def test_nobody_follows_themselves(alice):
    with pytest.raises(services.SocialError):
        services.follow_create(follower=alice, followee=alice)


def test_liked_images_respect_ratings(make_image, alice, bob, grown_up):
    safe, explicit = make_image(), make_image(prompt="x", rating="explicit")
    services.like_create(user=bob, image=safe)
    services.like_create(user=bob, image=explicit)
    assert ids(images_liked_by(liker=bob, user=bob)) == {safe.id}
    grown_up(bob)
    assert ids(images_liked_by(liker=bob, user=bob)) == {safe.id, explicit.id}


# --- Collections -------------------------------------------------------------------------------


def test_private_collections_exist_for_their_owner_only(make_image, alice, bob):
    private = services.collection_create(owner=alice, name="Secret", visibility="private")
    public = services.collection_create(owner=alice, name="Shown")
    assert set(collections_visible(user=alice)) == {private, public}
    assert set(collections_visible(user=bob)) == {public}
    assert set(collections_visible(user=None)) == {public}


def test_a_collection_cover_is_its_first_visible_images(make_image, alice, bob):
    board = services.collection_create(owner=alice, name="Foxes")
    images = [make_image(prompt=f"fox {i}") for i in range(3)]
    explicit = make_image(prompt="fox x", rating="explicit")
    services.collection_image_add(collection=board, image=explicit)
    for image in images:
        services.collection_image_add(collection=board, image=image)
    services.collection_image_add(collection=board, image=images[0])
    mine = collection_list(user=alice).get(pk=board.pk)
    assert [item.image_id for item in mine.cover_items] == [explicit.id] + [i.id for i in images]
    seen_by_bob = collection_list(user=bob).get(pk=board.pk)
    assert [item.image_id for item in seen_by_bob.cover_items] == [i.id for i in images]
    assert ids(collection_images(collection=board, user=bob)) == {i.id for i in images}
    services.collection_image_remove(collection=board, image=images[1])
    assert ids(collection_images(collection=board, user=alice)) == {
        explicit.id,
        images[0].id,
        images[2].id,
    }


def test_renaming_to_nothing_is_refused(alice):
    board = services.collection_create(owner=alice, name="Foxes")
    services.collection_update(collection=board, changes={"name": "Owls", "description": "hoot"})
    board.refresh_from_db()
    assert (board.name, board.description) == ("Owls", "hoot")
    with pytest.raises(services.SocialError):
        services.collection_update(collection=board, changes={"name": "  "})


# --- Reports and moderation --------------------------------------------------------------------


def test_reports_past_the_threshold_hide_the_image_until_a_moderator_restores_it(
    make_image, alice, bob, charlie, django_user_model, settings
):
    settings.REPORT_HIDE_THRESHOLD = 2
    image = make_image()
    services.report_create(reporter=bob, image=image, reason="spam")
    services.report_create(reporter=bob, image=image, reason="spam", note="again")
    assert not Image.objects.get(pk=image.pk).hidden
    services.report_create(reporter=charlie, image=image, reason="illegal")
    assert Image.objects.get(pk=image.pk).hidden
    assert ids(images_visible(user=bob)) == set()
    assert ids(images_visible(user=alice)) == {image.id}  # the owner still sees it
    staff = django_user_model.objects.create_user("mod", is_staff=True)
    assert ids(images_visible(user=staff)) == {image.id}
    services.moderation_restore(moderator=staff, image=image)
    assert ids(images_visible(user=bob)) == {image.id}
    log = list(ModerationAction.objects.order_by("id").values_list("action", "moderator_id"))
    assert log == [("hide", None), ("restore", staff.id)]


def test_nobody_reports_their_own_image(make_image, alice):
    with pytest.raises(services.SocialError):
        services.report_create(reporter=alice, image=make_image(), reason="spam")


def test_a_moderator_can_change_a_rating_and_remove_an_image_and_both_are_logged(
    make_image, django_user_model
):
    staff = django_user_model.objects.create_user("mod", is_staff=True)
    image = make_image()
    services.moderation_rate(moderator=staff, image=image, rating="explicit", note="nudity")
    assert Image.objects.get(pk=image.pk).rating == "explicit"
    image_id = image.id
    services.moderation_remove(moderator=staff, image=image, note="illegal")
    assert not Image.objects.filter(pk=image_id).exists()
    assert list(ModerationAction.objects.order_by("id").values_list("action", "image_ref")) == [
        ("rate", image_id),
        ("remove", image_id),
    ]


# --- Deleting and editing images ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_deleting_an_image_removes_its_files_and_unused_prompt_and_marks_its_remixes(
    make_image, embedder, index_prompts, settings
):
    parent = make_image(prompt="a lonely prompt")
    twin = make_image(prompt="a shared prompt")
    shared = make_image(prompt="a shared prompt")
    child = make_image(prompt="a remix", parents=[parent])
    index_prompts()
    files = [
        settings.MEDIA_ROOT / f.name for f in (parent.file, parent.thumb_small, parent.thumb_large)
    ]
    assert all(path.exists() for path in files)
    lonely_prompt = parent.prompt_id
    services.image_delete(image=parent)
    assert not any(path.exists() for path in files)
    assert not Prompt.objects.filter(pk=lonely_prompt).exists()
    assert not PromptEmbedding.objects.filter(prompt_id=lonely_prompt).exists()
    assert Image.objects.get(pk=child.pk).deleted_parents == 1
    services.image_delete(image=twin)
    assert PromptEmbedding.objects.filter(prompt_id=shared.prompt_id).exists()


def test_editing_a_prompt_moves_the_image_to_that_prompt_and_drops_the_old_one(make_image):
    image = make_image(prompt="first words")
    old = image.prompt_id
    services.image_update(image=image, changes={"prompt": "second words", "rating": "suggestive"})
    image.refresh_from_db()
    assert (image.prompt.text, image.rating) == ("second words", "suggestive")
    assert not Prompt.objects.filter(pk=old).exists()
    with pytest.raises(services.SocialError):
        services.image_update(image=image, changes={"prompt": " "})


# --- Profiles ----------------------------------------------------------------------------------


def test_an_avatar_is_re_encoded_as_a_small_square_without_metadata(alice, settings):
    import io

    from PIL import Image as PILImage
    from PIL.PngImagePlugin import PngInfo

    buffer = io.BytesIO()
    info = PngInfo()
    info.add_text("Comment", "secret")
    PILImage.new("RGB", (300, 200), (10, 200, 10)).save(buffer, format="PNG", pnginfo=info)
    profile = services.avatar_set(user=alice, data=buffer.getvalue())
    with PILImage.open(settings.MEDIA_ROOT / profile.avatar.name) as avatar:
        assert avatar.format == "WEBP"
        assert avatar.size == (settings.AVATAR_SIZE, settings.AVATAR_SIZE)
        assert "Comment" not in avatar.info


def test_a_file_that_is_not_an_image_is_refused_as_an_avatar(alice):
    from gallery.uploads.safety import UploadRefused

    with pytest.raises(UploadRefused):
        services.avatar_set(user=alice, data=b"<?php echo 1; ?>")


def test_the_migration_scores_images_made_before_trending_existed(make_image, settings):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("gallery.migrations.0003_social")
    image = make_image()
    Image.objects.filter(pk=image.pk).update(hot=0.0, like_count=3)
    migration.score_existing_images(apps, None)
    image.refresh_from_db()
    assert image.rating == Image.Rating.SAFE  # the field's default: older images are safe
    assert image.hot == pytest.approx(
        trending_score(
            like_count=3, created=image.created, half_life_hours=settings.TRENDING_HALF_LIFE_HOURS
        )
    )

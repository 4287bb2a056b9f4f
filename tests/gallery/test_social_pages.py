"""The social HTML pages: like and save buttons, Following tab, profiles, collections, settings,
reports, editing and deleting, moderation, and blurred mature images."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage

from gallery.models import Collection, Image, Like, ModerationAction, Profile, Report
from gallery.social import services

pytestmark = pytest.mark.django_db


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# --- Likes -------------------------------------------------------------------------------------


def test_a_like_button_posts_through_htmx_and_answers_with_the_new_button(client, make_image, bob):
    image = make_image()
    client.force_login(bob)
    fragment = client.post(
        f"/images/{image.id}/like/", {"action": "like"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'aria-pressed="true"' in fragment and '<span class="like-count">1</span>' in fragment
    assert 'name="action" value="unlike"' in fragment and "<html" not in fragment
    # A second "like" (a double click) keeps one like.
    client.post(f"/images/{image.id}/like/", {"action": "like"}, HTTP_HX_REQUEST="true")
    assert Like.objects.filter(image=image).count() == 1
    page = html(client.get("/"))
    assert 'aria-pressed="true"' in page
    # Without JavaScript: a plain form post that comes back to the page it was on.
    response = client.post(f"/images/{image.id}/like/", {"action": "unlike", "next": "/?x=1"})
    assert response.status_code == 302 and response["Location"] == "/?x=1"
    assert not Like.objects.exists()


def test_like_redirects_offsite_next_urls_to_the_image(client, make_image, bob):
    image = make_image()
    client.force_login(bob)
    response = client.post(
        f"/images/{image.id}/like/", {"action": "like", "next": "https://evil.example/"}
    )
    assert response["Location"] == f"/images/{image.id}/"


def test_anonymous_likes_go_to_login_and_charlie_cannot_like_what_he_cannot_see(
    client, make_image, charlie
):
    image = make_image()
    hidden = make_image(prompt="x", rating="explicit")
    response = client.post(f"/images/{image.id}/like/", {"action": "like"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert "Log in to like" in html(client.get("/"))
    client.force_login(charlie)
    assert client.post(f"/images/{hidden.id}/like/", {"action": "like"}).status_code == 404


def test_my_likes_lists_the_images_i_liked(client, make_image, bob):
    liked = make_image(prompt="a liked heron")
    make_image(prompt="an ignored crow")
    services.like_create(user=bob, image=liked)
    client.force_login(bob)
    page = html(client.get("/likes/"))
    assert "a liked heron" in page and "an ignored crow" not in page
    client.logout()
    assert client.get("/likes/").status_code == 302


def test_the_gallery_and_search_sort_by_trending(client, make_image, bob):
    quiet, loved = make_image(prompt="a quiet fox"), make_image(prompt="a loved fox")
    Image.objects.filter(pk=loved.pk).update(created=quiet.created)  # same age
    services.like_create(user=bob, image=quiet)
    page = html(client.get("/?ordering=trending"))
    assert page.index("a quiet fox") < page.index("a loved fox")
    assert 'value="trending" selected' in page


# --- Following ---------------------------------------------------------------------------------


def test_the_following_tab_shows_only_people_i_follow(client, make_image, alice, bob, charlie):
    make_image(owner=alice, prompt="a swan by alice")
    make_image(owner=charlie, prompt="a goose by charlie")
    client.force_login(bob)
    assert "No new images from people you follow" in html(client.get("/following/"))
    fragment = client.post(
        "/u/alice/follow/", {"action": "follow"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Following ✓" in fragment and 'class="followers-count">1<' in fragment
    page = html(client.get("/following/"))
    assert "a swan by alice" in page and "a goose by charlie" not in page
    assert 'aria-current="page">Following' in page
    client.post("/u/alice/follow/", {"action": "unfollow"})
    assert "a swan by alice" not in html(client.get("/following/"))


def test_following_yourself_is_refused_with_a_message(client, alice):
    client.force_login(alice)
    response = client.post("/u/alice/follow/", {"action": "follow"}, follow=True)
    assert "You cannot follow yourself." in html(response)


# --- Profiles ----------------------------------------------------------------------------------


def test_a_profile_has_tabs_for_images_remixes_collections_and_likes_for_the_owner(
    client, make_image, alice, charlie
):
    parent = make_image(owner=charlie, prompt="the original by charlie")
    make_image(owner=alice, prompt="a heron of alice")
    make_image(owner=alice, prompt="a remix by alice", parents=[parent])
    services.collection_create(owner=alice, name="Public herons")
    services.collection_create(owner=alice, name="Secret herons", visibility="private")
    services.like_create(user=alice, image=parent)
    services.profile_update(
        user=alice, changes={"bio": "Bird person", "links": ["https://example.org/a"]}
    )
    page = html(client.get("/u/alice/"))
    assert "Bird person" in page and 'href="https://example.org/a" rel="nofollow' in page
    assert "a heron of alice" in page and "?tab=likes" not in page
    remixes = html(client.get("/u/alice/?tab=remixes"))
    assert "a remix by alice" in remixes and "a heron of alice" not in remixes
    client.force_login(charlie)
    shelves = html(client.get("/u/alice/?tab=collections"))
    assert "Public herons" in shelves and "Secret herons" not in shelves
    assert client.get("/u/alice/?tab=likes").status_code == 404
    assert client.get("/u/alice/?tab=nonsense").status_code == 404
    client.force_login(alice)
    assert "Secret herons" in html(client.get("/u/alice/?tab=collections"))
    assert "the original by charlie" in html(client.get("/u/alice/?tab=likes"))


def png_bytes(size=(80, 40)) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", size, (5, 90, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_settings_save_bio_links_avatar_and_the_nsfw_choice(client, bob, grown_up):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(bob)
    young = client.post("/settings/", {"bio": "", "links": "", "mature": "show"})
    assert (
        young.status_code == 400 and "New accounts see safe images only" in young.content.decode()
    )
    grown_up(bob, Profile.Mature.HIDE)
    bad = client.post("/settings/", {"bio": "", "links": "javascript:alert(1)", "mature": "hide"})
    assert bad.status_code == 400
    response = client.post(
        "/settings/",
        {
            "bio": "I draw",
            "links": "https://example.org/bob\nhttp://bob.example",
            "mature": "blur",
            "avatar": SimpleUploadedFile("me.png", png_bytes(), content_type="image/png"),
        },
    )
    assert response.status_code == 302
    profile = Profile.objects.get(user=bob)
    assert (profile.bio, profile.links, profile.mature) == (
        "I draw",
        ["https://example.org/bob", "http://bob.example"],
        "blur",
    )
    assert profile.avatar.name.endswith(".webp")
    assert 'class="avatar"' in html(client.get("/u/bob/"))


def test_mature_images_are_blurred_until_clicked_for_viewers_who_chose_blur(
    client, make_image, alice, bob, grown_up
):
    make_image(prompt="an explicit heron", rating="explicit")
    make_image(prompt="a safe heron")
    assert "an explicit heron" not in html(client.get("/"))
    grown_up(bob, Profile.Mature.BLUR)
    client.force_login(bob)
    page = html(client.get("/"))
    assert page.count('class="tile blurred"') == 1 and "data-unblur" in page
    services.profile_update(user=bob, changes={"mature": Profile.Mature.SHOW})
    assert "blurred" not in html(client.get("/"))
    client.force_login(alice)  # owners see their own images plainly
    page = html(client.get("/"))
    assert "an explicit heron" in page and "blurred" not in page


# --- Collections -------------------------------------------------------------------------------


def test_saving_from_an_image_page_creates_a_collection_and_toggles_membership(
    client, make_image, alice, bob
):
    image = make_image(prompt="a saved stork")
    client.force_login(bob)
    page = html(client.get(f"/images/{image.id}/"))
    assert "Create and save" in page
    created = client.post(
        "/collections/new/",
        {
            "name": "Storks",
            "visibility": "public",
            "image": image.id,
            "next": f"/images/{image.id}/",
        },
    )
    assert created.status_code == 302
    board = Collection.objects.get(owner=bob)
    assert list(board.images.all()) == [image]
    menu = client.get(f"/images/{image.id}/save/", HTTP_HX_REQUEST="true").content.decode()
    assert "✓ Storks" in menu
    # Without JavaScript the tile's "Save" opens the same menu as a page.
    assert "<html" in html(client.get(f"/images/{image.id}/save/"))
    client.post(
        f"/collections/{board.id}/images/{image.id}/", {"action": "remove"}, HTTP_HX_REQUEST="true"
    )
    assert not board.images.exists()
    assert "a saved stork" not in html(client.get(f"/collections/{board.id}/"))


def test_a_private_collection_is_404_to_charlie_and_only_its_owner_edits_it(
    client, make_image, alice, charlie
):
    image = make_image(prompt="a private crane")
    board = services.collection_create(owner=alice, name="Cranes", visibility="private")
    services.collection_image_add(collection=board, image=image)
    client.force_login(alice)
    page = html(client.get(f"/collections/{board.id}/"))
    assert "a private crane" in page and "Private" in page
    client.force_login(charlie)
    for url in (f"/collections/{board.id}/", f"/collections/{board.id}/edit/"):
        assert client.get(url).status_code == 404
    assert client.post(f"/collections/{board.id}/delete/").status_code == 404
    assert (
        client.post(f"/collections/{board.id}/images/{image.id}/", {"action": "remove"}).status_code
        == 404
    )
    client.logout()
    assert client.get(f"/collections/{board.id}/").status_code == 404
    client.force_login(alice)
    client.post(
        f"/collections/{board.id}/edit/",
        {"name": "Cranes!", "description": "tall", "visibility": "public"},
    )
    board.refresh_from_db()
    assert (board.name, board.visibility) == ("Cranes!", "public")
    client.post(f"/collections/{board.id}/delete/")
    assert not Collection.objects.exists() and Image.objects.filter(pk=image.pk).exists()


# --- Reports, edit, delete, moderation ---------------------------------------------------------


def test_reporting_from_the_page_hides_the_image_past_the_threshold(
    client, make_image, bob, settings
):
    settings.REPORT_HIDE_THRESHOLD = 1
    image = make_image(prompt="a spammy ibis")
    client.force_login(bob)
    assert "Send report" in html(client.get(f"/images/{image.id}/report/"))
    response = client.post(f"/images/{image.id}/report/", {"reason": "spam", "note": "ads"})
    assert response.status_code == 302
    assert Report.objects.get().reason == "spam"
    assert client.get(f"/images/{image.id}/").status_code == 404
    assert "a spammy ibis" not in html(client.get("/"))


def test_charlie_gets_403_editing_or_deleting_alices_image(client, make_image, charlie):
    image = make_image()
    client.force_login(charlie)
    assert client.get(f"/images/{image.id}/edit/").status_code == 403
    assert client.post(f"/images/{image.id}/delete/").status_code == 403
    assert "Delete</a>" not in html(client.get(f"/images/{image.id}/"))
    assert Image.objects.filter(pk=image.pk).exists()


def test_the_owner_edits_and_deletes_and_the_remix_says_source_deleted(client, make_image, alice):
    parent = make_image(prompt="the first egret")
    child = make_image(prompt="the egret remix", parents=[parent])
    client.force_login(alice)
    client.post(
        f"/images/{parent.id}/edit/",
        {"prompt": "the very first egret", "negative_prompt": "", "rating": "suggestive"},
    )
    parent.refresh_from_db()
    assert (parent.prompt.text, parent.rating) == ("the very first egret", "suggestive")
    assert "Delete for good" in html(client.get(f"/images/{parent.id}/delete/"))
    assert client.post(f"/images/{parent.id}/delete/").status_code == 302
    assert not Image.objects.filter(pk=parent.pk).exists()
    assert "Source deleted" in html(client.get(f"/images/{child.id}/"))


def test_the_moderation_queue_is_for_staff_and_logs_each_action(
    client, make_image, bob, django_user_model, settings
):
    settings.REPORT_HIDE_THRESHOLD = 1
    staff = django_user_model.objects.create_user("mod", is_staff=True)
    image = make_image(prompt="a reported spoonbill")
    services.report_create(reporter=bob, image=image, reason="misrated", note="nsfw")
    client.force_login(bob)
    assert client.get("/moderation/").status_code == 404
    assert client.post(f"/moderation/{image.id}/", {"action": "restore"}).status_code == 404
    client.force_login(staff)
    page = html(client.get("/moderation/"))
    assert "a reported spoonbill" in page and "Wrong NSFW rating" in page
    client.post(f"/moderation/{image.id}/", {"action": "rate", "rating": "explicit"})
    client.post(f"/moderation/{image.id}/", {"action": "restore", "note": "re-rated"})
    image.refresh_from_db()
    assert (image.rating, image.hidden) == ("explicit", False)
    assert "Nothing to review" in html(client.get("/moderation/"))
    actions = list(ModerationAction.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["hide", "rate", "restore"]


@pytest.mark.parametrize(
    "path",
    ["/", "/?ordering=trending", "/following/", "/likes/", "/u/alice/", "/collections/{board}/"],
)
def test_html_lists_cost_the_same_queries_for_3_or_9_images(client, make_image, alice, bob, path):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    board = services.collection_create(owner=alice, name="Birds")
    services.follow_create(follower=bob, followee=alice)
    client.force_login(bob)
    url = path.format(board=board.id)

    def add(count: int) -> int:
        for i in range(count):
            image = make_image(prompt=f"bird {i}")
            services.like_create(user=bob, image=image)
            services.collection_image_add(collection=board, image=image)
        with CaptureQueriesContext(connection) as queries:
            page = html(client.get(url))
        assert page.count('class="tile"') == Image.objects.count()
        return len(queries)

    assert add(3) == add(6)

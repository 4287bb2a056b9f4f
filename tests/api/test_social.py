"""The social API: likes, collections, follows and feed, reports, /api/me/, image edit/delete."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from gallery.models import Image, Like, Report
from gallery.social import services

pytestmark = pytest.mark.django_db


def result_ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


# --- Likes -------------------------------------------------------------------------------------


def test_liking_and_unliking_is_idempotent_and_returns_the_count(api, make_image, bob):
    image = make_image()
    api.force_authenticate(bob)
    url = f"/api/images/{image.id}/like/"
    assert api.post(url).json() == {"liked": True, "like_count": 1}
    assert api.post(url).json() == {"liked": True, "like_count": 1}
    assert api.get(f"/api/images/{image.id}/").json()["like_count"] == 1
    assert api.delete(url).json() == {"liked": False, "like_count": 0}
    assert api.delete(url).json() == {"liked": False, "like_count": 0}


def test_anonymous_visitors_cannot_like(api, make_image):
    response = api.post(f"/api/images/{make_image().id}/like/")
    assert response.status_code in (401, 403)
    assert "detail" in response.json()


def test_charlie_gets_404_liking_or_reporting_an_image_he_cannot_see(api, make_image, charlie):
    hidden = make_image(rating="explicit")
    api.force_authenticate(charlie)
    for path in ("like", "report"):
        response = api.post(f"/api/images/{hidden.id}/{path}/", {"reason": "spam"})
        assert response.status_code == 404
    assert not Like.objects.exists() and not Report.objects.exists()


def test_liked_by_me_lists_my_likes_only(api, make_image, bob, charlie):
    liked, other = make_image(prompt="liked"), make_image(prompt="other")
    services.like_create(user=bob, image=liked)
    services.like_create(user=charlie, image=other)
    api.force_authenticate(bob)
    assert result_ids(api.get("/api/images/?liked_by=me")) == [liked.id]
    assert api.get("/api/images/?liked_by=charlie").status_code == 400
    api.force_authenticate(None)
    assert api.get("/api/images/?liked_by=me").status_code in (401, 403)


@pytest.mark.parametrize("ordering", ["-likes", "trending"])
def test_top_and_trending_page_through_every_image_once_both_ways(
    api, make_image, django_user_model, ordering
):
    images = [make_image(prompt=f"p{i}") for i in range(7)]
    fans = [django_user_model.objects.create_user(f"fan{i}") for i in range(3)]
    for image, likes in zip(images, [3, 0, 1, 1, 2, 0, 3], strict=True):
        for fan in fans[:likes]:
            services.like_create(user=fan, image=image)
    seen, url, pages = [], f"/api/images/?ordering={ordering}&page_size=3", []
    while url:
        body = api.get(url).json()
        pages.append(body)
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(i.id for i in images)
    counts = [Image.objects.get(pk=i).like_count for i in seen]
    if ordering == "-likes":
        assert counts == sorted(counts, reverse=True)
    else:  # all made within a second: trending follows likes, newest first within a count
        assert counts == sorted(counts, reverse=True)
    back = api.get(pages[-1]["previous"]).json()
    assert [row["id"] for row in back["results"]] == seen[3:6]


# --- Collections -------------------------------------------------------------------------------


def test_a_collection_is_created_renamed_filled_emptied_and_deleted(api, make_image, alice):
    image = make_image()
    api.force_authenticate(alice)
    created = api.post(
        "/api/collections/", {"name": "Foxes", "description": "red", "visibility": "private"}
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["visibility"] == "private" and body["owner"] == "alice"
    cid = body["id"]
    assert api.post(f"/api/collections/{cid}/images/{image.id}/").status_code == 204
    assert api.post(f"/api/collections/{cid}/images/{image.id}/").status_code == 204
    detail = api.get(f"/api/collections/{cid}/").json()
    assert detail["image_count"] == 1 and len(detail["cover"]) == 1
    assert result_ids(api.get(f"/api/collections/{cid}/images/")) == [image.id]
    renamed = api.patch(f"/api/collections/{cid}/", {"name": "Vixens", "visibility": "public"})
    assert renamed.json()["name"] == "Vixens" and renamed.json()["visibility"] == "public"
    assert api.delete(f"/api/collections/{cid}/images/{image.id}/").status_code == 204
    assert result_ids(api.get(f"/api/collections/{cid}/images/")) == []
    assert api.delete(f"/api/collections/{cid}/").status_code == 204
    assert api.get(f"/api/collections/{cid}/").status_code == 404


def test_bad_collection_input_is_a_400_with_a_sentence(api, alice):
    api.force_authenticate(alice)
    for body in ({"name": ""}, {"name": "x", "visibility": "secret"}, {"name": "y" * 101}):
        response = api.post("/api/collections/", body)
        assert response.status_code == 400
        assert isinstance(response.json()["detail"], str)


def test_charlie_gets_404_for_a_private_collection_everywhere(api, make_image, alice, charlie):
    image = make_image()
    board = services.collection_create(owner=alice, name="Secret", visibility="private")
    services.collection_image_add(collection=board, image=image)
    api.force_authenticate(charlie)
    assert api.get(f"/api/collections/{board.id}/").status_code == 404
    assert api.get(f"/api/collections/{board.id}/images/").status_code == 404
    assert api.patch(f"/api/collections/{board.id}/", {"name": "mine"}).status_code == 404
    assert api.delete(f"/api/collections/{board.id}/").status_code == 404
    assert api.post(f"/api/collections/{board.id}/images/{image.id}/").status_code == 404
    assert api.delete(f"/api/collections/{board.id}/images/{image.id}/").status_code == 404
    assert board.id not in result_ids(api.get("/api/collections/"))
    api.force_authenticate(None)
    assert api.get(f"/api/collections/{board.id}/").status_code == 404


def test_charlie_gets_403_changing_a_public_collection_and_404_adding_to_it(
    api, make_image, alice, charlie
):
    image = make_image()
    board = services.collection_create(owner=alice, name="Shown")
    api.force_authenticate(charlie)
    assert api.get(f"/api/collections/{board.id}/").status_code == 200
    assert api.patch(f"/api/collections/{board.id}/", {"name": "mine"}).status_code == 403
    assert api.delete(f"/api/collections/{board.id}/").status_code == 403
    assert api.post(f"/api/collections/{board.id}/images/{image.id}/").status_code == 404
    board.refresh_from_db()
    assert board.name == "Shown"


def test_nobody_adds_an_image_they_cannot_see_to_their_collection(api, make_image, bob):
    explicit = make_image(rating="explicit")
    board = services.collection_create(owner=bob, name="Mine")
    api.force_authenticate(bob)
    assert api.post(f"/api/collections/{board.id}/images/{explicit.id}/").status_code == 404


# --- Follows and the feed ----------------------------------------------------------------------


def test_following_fills_the_feed_and_unfollowing_empties_it(api, make_image, alice, bob, charlie):
    older = make_image(owner=alice, prompt="older")
    newer = make_image(owner=alice, prompt="newer")
    make_image(owner=charlie, prompt="stranger's")
    api.force_authenticate(bob)
    assert api.post("/api/users/alice/follow/").json() == {"following": True, "followers": 1}
    assert api.post("/api/users/alice/follow/").json() == {"following": True, "followers": 1}
    assert result_ids(api.get("/api/feed/following/")) == [newer.id, older.id]
    assert api.get("/api/users/alice/").json()["followed_by_me"] is True
    assert api.delete("/api/users/alice/follow/").json()["following"] is False
    assert result_ids(api.get("/api/feed/following/")) == []


def test_follow_errors_are_clear(api, alice):
    api.force_authenticate(alice)
    assert api.post("/api/users/nobody/follow/").status_code == 404
    response = api.post("/api/users/alice/follow/")
    assert response.status_code == 400 and "yourself" in response.json()["detail"]
    api.force_authenticate(None)
    assert api.post("/api/users/alice/follow/").status_code in (401, 403)
    assert api.get("/api/feed/following/").status_code in (401, 403)


# --- Reports -----------------------------------------------------------------------------------


def test_a_report_is_accepted_and_shows_only_the_reporters_own_words(
    api, make_image, bob, charlie, settings
):
    settings.REPORT_HIDE_THRESHOLD = 2
    image = make_image()
    services.report_create(reporter=charlie, image=image, reason="spam", note="charlie's note")
    api.force_authenticate(bob)
    response = api.post(
        f"/api/images/{image.id}/report/", {"reason": "misrated", "note": "not safe"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["reason"] == "misrated" and "charlie" not in str(body)
    # Two people reported: hidden pending review, a 404 to everyone but the owner and staff.
    assert api.get(f"/api/images/{image.id}/").status_code == 404


def test_bad_reports_are_400s(api, make_image, alice, bob):
    image = make_image()
    api.force_authenticate(bob)
    assert api.post(f"/api/images/{image.id}/report/", {"reason": "boring"}).status_code == 400
    assert api.post(f"/api/images/{image.id}/report/", {}).status_code == 400
    api.force_authenticate(alice)
    own = api.post(f"/api/images/{image.id}/report/", {"reason": "spam"})
    assert own.status_code == 400 and "own" in own.json()["detail"]


# --- /api/me/ ----------------------------------------------------------------------------------


def test_me_shows_and_changes_the_nsfw_preference_and_profile(api, make_image, bob):
    explicit = make_image(rating="explicit")
    api.force_authenticate(bob)
    me = api.get("/api/me/").json()
    assert me["nsfw"] == "hide" and me["nsfw_allowed"] is False
    refused = api.patch("/api/me/", {"nsfw": "show"}, format="json")
    assert refused.status_code == 400 and "New accounts" in refused.json()["detail"]
    type(bob).objects.filter(pk=bob.pk).update(date_joined=timezone.now() - dt.timedelta(days=2))
    bob.refresh_from_db()
    changed = api.patch(
        "/api/me/",
        {"nsfw": "blur", "bio": "I like foxes", "links": ["https://example.org/bob"]},
        format="json",
    ).json()
    assert (changed["nsfw"], changed["nsfw_effective"], changed["bio"]) == (
        "blur",
        "blur",
        "I like foxes",
    )
    assert explicit.id in result_ids(api.get("/api/images/"))


def test_me_refuses_bad_values(api, bob):
    api.force_authenticate(bob)
    for body in ({"nsfw": "all"}, {"links": ["javascript:alert(1)"]}, {"links": ["x"] * 6}):
        response = api.patch("/api/me/", body, format="json")
        assert response.status_code == 400, body
    api.force_authenticate(None)
    assert api.get("/api/me/").status_code in (401, 403)


def test_an_avatar_upload_goes_through_the_safe_decoder(api, bob):
    import io

    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.new("RGB", (90, 60), (1, 2, 3)).save(buffer, format="PNG")
    buffer.seek(0)
    buffer.name = "me.png"
    api.force_authenticate(bob)
    body = api.post("/api/me/avatar/", {"file": buffer}, format="multipart").json()
    assert body["avatar_url"].endswith(".webp")
    bad = io.BytesIO(b"GIF89a not really")
    bad.name = "x.gif"
    response = api.post("/api/me/avatar/", {"file": bad}, format="multipart")
    assert response.status_code == 400 and "detail" in response.json()


# --- Editing and deleting images ---------------------------------------------------------------


def test_the_owner_edits_and_deletes_an_image_and_the_remix_shows_its_source_was_deleted(
    api, make_image, alice
):
    parent = make_image(prompt="a parent")
    child = make_image(prompt="a child", parents=[parent])
    api.force_authenticate(alice)
    edited = api.patch(
        f"/api/images/{parent.id}/", {"prompt": "a better parent", "rating": "suggestive"}
    )
    assert edited.status_code == 200
    assert (edited.json()["prompt"], edited.json()["rating"]) == ("a better parent", "suggestive")
    assert api.delete(f"/api/images/{parent.id}/").status_code == 204
    assert api.get(f"/api/images/{parent.id}/").status_code == 404
    detail = api.get(f"/api/images/{child.id}/").json()
    assert detail["parents"] == [] and detail["parents_deleted"] == 1


def test_charlie_gets_403_editing_or_deleting_alices_image_and_404_for_one_he_cannot_see(
    api, make_image, charlie
):
    shown, explicit = make_image(), make_image(prompt="x", rating="explicit")
    api.force_authenticate(charlie)
    assert api.patch(f"/api/images/{shown.id}/", {"prompt": "mine"}).status_code == 403
    assert api.delete(f"/api/images/{shown.id}/").status_code == 403
    assert api.delete(f"/api/images/{explicit.id}/").status_code == 404
    assert api.put(f"/api/images/{shown.id}/", {"prompt": "mine"}).status_code == 405
    assert Image.objects.count() == 2


def test_staff_may_delete_any_image(api, make_image, django_user_model):
    staff = django_user_model.objects.create_user("mod", is_staff=True)
    image = make_image()
    api.force_authenticate(staff)
    assert api.delete(f"/api/images/{image.id}/").status_code == 204

"""The uploads API as its contract says: draft, edit, publish; nobody else's drafts."""

from __future__ import annotations

import pytest

from gallery.models import Image, Upload
from tests.gallery.uploads import files
from tests.gallery.uploads.files import post_file, tiny_model_dir  # noqa: F401

pytestmark = pytest.mark.django_db
METADATA_KEYS = {
    "generator",
    "prompt",
    "negative_prompt",
    "model",
    "model_hash",
    "scheduler",
    "steps",
    "cfg_scale",
    "seed",
    "width",
    "height",
    "clip_skip",
    "extra",
}


@pytest.fixture
def draft(api, alice):
    api.force_authenticate(alice)
    response = post_file(api, files.comfyui_png())
    assert response.status_code == 201, response.json()
    return response.json()


def test_uploading_a_comfyui_png_returns_a_draft_with_the_contract_fields(draft):
    assert draft["status"] == "draft"
    assert set(draft["metadata"]) == METADATA_KEYS
    assert draft["metadata"]["prompt"] == "a lighthouse at dusk, oil painting"
    assert draft["reproducibility"] == "partial"  # dreamshaper is not one of our models
    assert draft["near_duplicates"] == []
    assert draft["rating"] == "safe"
    assert draft["raw_metadata"]["prompt"].startswith("{")


def test_a_draft_is_reproducible_when_the_model_and_sampler_are_ours(api, alice):
    api.force_authenticate(alice)
    text = "a fox\nSteps: 4, Sampler: Euler a, CFG scale: 7, Seed: 3, Size: 64x64, Model: tiny-test"
    response = post_file(api, files.png(text={"parameters": text}))
    body = response.json()
    assert body["reproducibility"] == "reproducible", body["reproducibility_detail"]


def test_uploading_needs_a_file_field(api, alice):
    api.force_authenticate(alice)
    response = api.post("/api/uploads/", {"other": "x"}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.json()["detail"]


def test_anonymous_visitors_cannot_upload(api):
    response = post_file(api, files.png())
    assert response.status_code in (401, 403)


def test_the_owner_edits_a_draft_then_publishes_it_as_a_gallery_image(api, draft):
    response = api.patch(
        f"/api/uploads/{draft['id']}/",
        {"prompt": "a lighthouse at night", "steps": 25, "rating": "suggestive"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["metadata"]["prompt"] == "a lighthouse at night"
    assert response.json()["metadata"]["negative_prompt"] == "blurry, watermark"

    published = api.post(f"/api/uploads/{draft['id']}/publish/")
    assert published.status_code == 201
    body = published.json()
    assert body["status"] == "published" and body["preview_url"] is None
    image = api.get(f"/api/images/{body['image']['id']}/").json()
    assert image["prompt"] == "a lighthouse at night"
    assert (image["steps"], image["rating"], image["source"]) == (25, "suggestive", "uploaded")
    assert image["model"] == "dreamshaper_8.safetensors"
    assert "Steps: 25" in image["infotext"]


def test_publishing_twice_gives_the_same_image(api, draft):
    first = api.post(f"/api/uploads/{draft['id']}/publish/").json()
    second = api.post(f"/api/uploads/{draft['id']}/publish/").json()
    assert first["image"]["id"] == second["image"]["id"]
    assert Image.objects.count() == 1


def test_a_published_upload_can_no_longer_be_edited(api, draft):
    api.post(f"/api/uploads/{draft['id']}/publish/")
    response = api.patch(f"/api/uploads/{draft['id']}/", {"prompt": "x"}, format="json")
    assert response.status_code == 409
    assert "already published" in response.json()["detail"]


def test_an_invalid_edit_is_refused_with_a_sentence(api, draft):
    response = api.patch(f"/api/uploads/{draft['id']}/", {"steps": 0}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("steps:")
    response = api.patch(f"/api/uploads/{draft['id']}/", {"rating": "unrated"}, format="json")
    assert response.status_code == 400


def test_the_owner_lists_and_deletes_drafts(api, draft):
    assert [d["id"] for d in api.get("/api/uploads/").json()] == [draft["id"]]
    assert api.delete(f"/api/uploads/{draft['id']}/").status_code == 204
    assert api.get("/api/uploads/").json() == []


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("patch", ""), ("delete", ""), ("post", "publish/")],
)
def test_charlie_gets_404_on_alices_draft(api, draft, charlie, method, suffix):
    api.force_authenticate(charlie)
    response = getattr(api, method)(f"/api/uploads/{draft['id']}/{suffix}", {}, format="json")
    assert response.status_code == 404
    assert Upload.objects.get(pk=draft["id"]).status == "draft"


def test_charlie_gets_404_on_alices_draft_preview(client, draft, charlie, alice):
    client.force_login(alice)
    assert client.get(f"/uploads/{draft['id']}/preview/").status_code == 200
    client.force_login(charlie)
    assert client.get(f"/uploads/{draft['id']}/preview/").status_code == 404


def test_charlies_list_does_not_show_alices_drafts(api, draft, charlie):
    api.force_authenticate(charlie)
    assert api.get("/api/uploads/").json() == []


def test_an_exact_duplicate_of_a_gallery_image_is_refused_with_a_link_to_it(api, draft, bob):
    image_id = api.post(f"/api/uploads/{draft['id']}/publish/").json()["image"]["id"]
    api.force_authenticate(bob)
    response = post_file(api, files.comfyui_png())
    assert response.status_code == 409
    assert response.json()["page_url"] == f"/images/{image_id}/"
    assert "already in the gallery" in response.json()["detail"]


def test_downloading_a_gallery_png_and_uploading_it_again_is_an_exact_duplicate(
    api, make_image, bob
):
    image = make_image()
    api.force_authenticate(bob)
    response = post_file(api, image.file.read())
    assert response.status_code == 409
    assert response.json()["image_id"] == image.id


def test_the_same_file_twice_points_to_the_waiting_draft(api, draft):
    response = post_file(api, files.comfyui_png())
    assert response.status_code == 409
    assert response.json()["upload_id"] == draft["id"]


def test_a_near_duplicate_is_flagged_to_the_uploader(api, draft, bob):
    image_id = api.post(f"/api/uploads/{draft['id']}/publish/").json()["image"]["id"]
    api.force_authenticate(bob)
    # The same picture, as a JPEG: other bytes, the same look.
    response = post_file(api, files.jpeg(files.noise(1)), name="copy.jpg")
    assert response.status_code == 201
    near = response.json()["near_duplicates"]
    assert near and near[0]["image_id"] == image_id
    assert near[0]["page_url"].endswith(f"/images/{image_id}/")


def test_the_upload_page_is_for_signed_in_people(client, alice):
    assert client.get("/upload/").status_code == 302
    client.force_login(alice)
    page = client.get("/upload/")
    assert page.status_code == 200
    assert b"uploads.js" in page.content and b"onclick" not in page.content


def test_the_schema_documents_the_uploads_api(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    assert {"/api/uploads/", "/api/uploads/{upload_id}/", "/api/uploads/{upload_id}/publish/"} <= (
        set(schema["paths"])
    )

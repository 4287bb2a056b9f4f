"""IDOR: charlie, signed in, tries every address that names one of alice's objects.

One table, every object type (image, draft upload, job, private and public collection) and
every way to touch it (API and HTML, read and write). Each attempt must be refused (403, or
404 where the object is private) and leave the object exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.forms.models import model_to_dict
from django.test import Client

from gallery.models import Collection, Image, Upload
from gallery.social.services import collection_create, collection_image_add
from generation.models import GenerationJob
from tests.gallery.uploads import files
from tests.gallery.uploads.files import post_file, tiny_model_dir  # noqa: F401

pytestmark = pytest.mark.django_db
REFUSED = {403, 404}


@dataclass
class Attempt:
    method: str
    path: str
    body: dict | None = None
    json: bool = True


def _snapshot(obj) -> dict:
    obj.refresh_from_db()
    data = model_to_dict(obj)
    data.pop("updated", None)
    if isinstance(obj, Collection):
        data["images"] = sorted(i.pk for i in obj.images.all())
    return data


@pytest.fixture
def alices_objects(alice, make_image, make_job, api):
    image = make_image(prompt="alice's lighthouse")
    other = make_image(prompt="alice's fox")
    api.force_authenticate(alice)
    upload = Upload.objects.get(id=post_file(api, files.comfyui_png()).json()["id"])
    job = make_job(owner=alice)
    private = collection_create(owner=alice, name="Secret board", visibility="private")
    public = collection_create(owner=alice, name="Open board", visibility="public")
    for board in (private, public):
        collection_image_add(collection=board, image=image)
    return {
        "image": image,
        "other": other,
        "upload": upload,
        "job": job,
        "private": private,
        "public": public,
    }


ATTEMPTS: dict[str, Callable[[dict], list[Attempt]]] = {
    "image": lambda o: [
        Attempt("patch", f"/api/images/{o['image'].id}/", {"prompt": "charlie was here"}),
        Attempt("delete", f"/api/images/{o['image'].id}/"),
        Attempt("post", f"/images/{o['image'].id}/edit/", {"prompt": "pwned"}, json=False),
        Attempt("post", f"/images/{o['image'].id}/delete/", {}, json=False),
    ],
    "upload": lambda o: [
        Attempt("get", f"/api/uploads/{o['upload'].id}/"),
        Attempt("patch", f"/api/uploads/{o['upload'].id}/", {"prompt": "charlie's now"}),
        Attempt("delete", f"/api/uploads/{o['upload'].id}/"),
        Attempt("post", f"/api/uploads/{o['upload'].id}/publish/", {}),
        Attempt("get", f"/uploads/{o['upload'].id}/preview/", json=False),
    ],
    "job": lambda o: [
        Attempt("get", f"/api/jobs/{o['job'].id}/"),
        Attempt("post", f"/api/jobs/{o['job'].id}/cancel/", {}),
        Attempt("get", f"/jobs/{o['job'].id}/", json=False),
        Attempt("post", f"/jobs/{o['job'].id}/cancel/", {}, json=False),
    ],
    "private": lambda o: [
        Attempt("get", f"/api/collections/{o['private'].id}/"),
        Attempt("patch", f"/api/collections/{o['private'].id}/", {"name": "mine"}),
        Attempt("delete", f"/api/collections/{o['private'].id}/"),
        Attempt("post", f"/api/collections/{o['private'].id}/images/{o['other'].id}/", {}),
        Attempt("delete", f"/api/collections/{o['private'].id}/images/{o['image'].id}/"),
        Attempt("get", f"/collections/{o['private'].id}/", json=False),
        Attempt("post", f"/collections/{o['private'].id}/edit/", {"name": "x"}, json=False),
        Attempt("post", f"/collections/{o['private'].id}/delete/", {}, json=False),
    ],
    "public": lambda o: [
        Attempt("patch", f"/api/collections/{o['public'].id}/", {"name": "mine"}),
        Attempt("delete", f"/api/collections/{o['public'].id}/"),
        Attempt("post", f"/api/collections/{o['public'].id}/images/{o['other'].id}/", {}),
        Attempt("delete", f"/api/collections/{o['public'].id}/images/{o['image'].id}/"),
        Attempt("post", f"/collections/{o['public'].id}/edit/", {"name": "x"}, json=False),
        Attempt("post", f"/collections/{o['public'].id}/delete/", {}, json=False),
        Attempt("post", f"/collections/{o['public'].id}/images/{o['other'].id}/", {}, json=False),
    ],
}


@pytest.mark.parametrize("kind", sorted(ATTEMPTS))
def test_charlie_cannot_read_or_change_alices_objects(kind, alices_objects, charlie):
    target = alices_objects[kind]
    before = _snapshot(target)
    client = Client()
    client.force_login(charlie)
    for attempt in ATTEMPTS[kind](alices_objects):
        send = getattr(client, attempt.method)
        if attempt.json:
            response = send(attempt.path, data=attempt.body or {}, content_type="application/json")
        else:
            response = send(attempt.path, data=attempt.body or {})
        assert response.status_code in REFUSED, (attempt, response.status_code)
    assert _snapshot(target) == before
    assert Image.objects.filter(id=alices_objects["image"].id).exists()
    assert GenerationJob.objects.filter(id=alices_objects["job"].id).exists()


def test_a_private_collection_is_a_404_not_a_403(alices_objects, charlie, api):
    """A 403 would tell charlie that the collection exists."""
    api.force_authenticate(charlie)
    assert api.get(f"/api/collections/{alices_objects['private'].id}/").status_code == 404

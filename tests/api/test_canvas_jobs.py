"""POST /api/jobs/ with mode inpaint or outpaint: the mask as a PNG upload or a data URL."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from generation.models import GenerationJob
from tests.generation.masks import data_url, mask_png

pytestmark = pytest.mark.django_db


def test_an_inpaint_job_takes_its_mask_as_a_multipart_png_upload(api, alice, make_image):
    image = make_image()
    api.force_authenticate(alice)
    upload = SimpleUploadedFile("mask.png", mask_png(), content_type="image/png")
    body = {"mode": "inpaint", "source_image": image.id, "mask": upload, "mask_blur": 8}
    response = api.post("/api/jobs/", body, format="multipart")
    assert response.status_code == 201, response.json()
    job = response.json()
    assert job["mode"] == "inpaint" and job["source_image"] == image.id
    assert (job["width"], job["height"], job["mask_blur"]) == (64, 64, 8)
    assert job["prompt"] == "a red fox in the snow"  # the source's prompt by default
    assert job["mask_url"].endswith(".png") and job["notes"] == []
    stored = GenerationJob.objects.get(id=job["id"]).mask
    assert job["mask_url"].endswith(stored.url) and stored.storage.exists(stored.name)


def test_an_outpaint_job_takes_extend_as_json_or_as_a_json_string(api, alice, make_image):
    image = make_image()
    api.force_authenticate(alice)
    as_json = api.post(
        "/api/jobs/",
        {"mode": "outpaint", "source_image": image.id, "extend": {"right": 128, "top": 64}},
        format="json",
    )
    assert as_json.status_code == 201, as_json.json()
    assert (as_json.json()["width"], as_json.json()["height"]) == (192, 128)
    assert as_json.json()["extend"] == {"left": 0, "top": 64, "right": 128, "bottom": 0}
    as_form = api.post(
        "/api/jobs/",
        {"mode": "outpaint", "source_image": image.id, "extend": json.dumps({"left": 64})},
        format="multipart",
    )
    assert as_form.status_code == 201, as_form.json()
    assert as_form.json()["width"] == 128


def test_a_mask_of_the_same_aspect_but_another_size_is_resized_with_a_note(api, alice, make_image):
    image = make_image()
    api.force_authenticate(alice)
    body = {"mode": "inpaint", "source_image": image.id, "mask": data_url(mask_png((256, 256)))}
    response = api.post("/api/jobs/", body, format="json")
    assert response.status_code == 201
    assert response.json()["notes"] == ["The mask was 256x256; it was resized to 64x64."]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"mode": "inpaint", "mask": data_url(mask_png(box=None))}, "mask is empty"),
        ({"mode": "inpaint", "mask": data_url(mask_png((128, 64)))}, "aspect ratios differ"),
        ({"mode": "inpaint", "mask": "data:image/png;base64,bm90IGEgcG5n"}, "not an image"),
        ({"mode": "inpaint", "mask": 12}, "PNG file upload or a data"),
        ({"mode": "inpaint"}, "needs a mask"),
        ({"mode": "outpaint", "extend": "wide"}, "extend must be an object"),
        ({"mode": "outpaint", "extend": {"left": 600}}, "between 64 and 512"),
        ({"mode": "outpaint", "extend": {"left": 512, "right": 512}}, "beyond the size limit"),
        ({"mode": "outpaint", "extend": {}}, "Outpaint needs extend"),
        ({"mode": "inpaint", "mask_blur": -1, "mask": data_url(mask_png())}, "mask_blur"),
    ],
)
def test_bad_canvas_requests_get_a_400_with_a_sentence(
    api, alice, make_image, settings, body, message
):
    settings.SD_MAX_SIDE = 1024
    image = make_image()
    api.force_authenticate(alice)
    response = api.post("/api/jobs/", {"source_image": image.id, **body}, format="json")
    assert response.status_code == 400, response.json()
    assert message in response.json()["detail"]
    assert GenerationJob.objects.count() == 0


def test_a_canvas_job_on_an_image_you_cannot_see_is_a_404(api, charlie, make_image):
    image = make_image()
    gone = image.id
    image.delete()
    api.force_authenticate(charlie)
    body = {"mode": "inpaint", "source_image": gone, "mask": data_url(mask_png())}
    response = api.post("/api/jobs/", body, format="json")
    assert response.status_code == 404
    assert str(gone) in response.json()["detail"]


def test_the_schema_documents_the_canvas_fields(api):
    schema = api.get("/api/schema/?format=json").json()
    fields = schema["components"]["schemas"]["JobInputRequest"]["properties"]
    assert {"mask", "extend", "mask_blur", "only_masked"} <= set(fields)
    assert {"inpaint", "outpaint"} <= set(schema["components"]["schemas"]["JobModeEnum"]["enum"])

"""POST/GET /api/jobs/, cancel, permissions, limits and idempotency over HTTP."""

from __future__ import annotations

import pytest

from generation import services
from generation.models import GenerationJob

pytestmark = pytest.mark.django_db


def test_submitting_a_job_answers_201_and_it_can_be_followed(api, alice):
    api.force_authenticate(alice)
    response = api.post("/api/jobs/", {"prompt": "a lighthouse", "seed": 3}, format="json")
    assert response.status_code == 201, response.json()
    job = response.json()
    assert job["status"] == "queued" and job["progress"] == 0 and job["images"] == []
    assert (job["model"], job["scheduler"], job["width"], job["seed"]) == (
        "tiny-test",
        "Euler a",
        64,
        3,
    )
    assert job["queue_position"] == 0
    services.job_execute(job_id=job["id"])  # what the worker does
    done = api.get(f"/api/jobs/{job['id']}/").json()
    assert done["status"] == "succeeded" and done["progress"] == 1
    assert len(done["images"]) == 1 and done["images"][0]["seed"] == 3
    listed = api.get("/api/images/").json()["results"]
    assert [row["id"] for row in listed] == [done["images"][0]["id"]]


def test_only_the_owner_sees_or_cancels_a_job(api, alice, charlie):
    api.force_authenticate(alice)
    job_id = api.post("/api/jobs/", {"prompt": "mine"}, format="json").json()["id"]
    api.force_authenticate(charlie)
    assert api.get(f"/api/jobs/{job_id}/").status_code == 404
    assert api.post(f"/api/jobs/{job_id}/cancel/").status_code == 404
    assert api.get("/api/jobs/").json()["results"] == []
    api.force_authenticate(alice)
    assert [row["id"] for row in api.get("/api/jobs/").json()["results"]] == [job_id]


def test_anonymous_clients_cannot_submit(api):
    response = api.post("/api/jobs/", {"prompt": "x"}, format="json")
    assert response.status_code in (401, 403)
    assert response.json()["detail"]


def test_cancel_works_while_queued_and_is_a_409_once_finished(api, alice):
    api.force_authenticate(alice)
    job_id = api.post("/api/jobs/", {"prompt": "x"}, format="json").json()["id"]
    response = api.post(f"/api/jobs/{job_id}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    second = api.post(f"/api/jobs/{job_id}/cancel/")
    assert second.status_code == 200  # cancelling twice is harmless
    done = api.post("/api/jobs/", {"prompt": "y", "steps": 2}, format="json").json()["id"]
    services.job_execute(job_id=done)
    conflict = api.post(f"/api/jobs/{done}/cancel/")
    assert conflict.status_code == 409 and "succeeded" in conflict.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "x", "steps": 0},
        {"prompt": "x", "steps": 10_000},
        {"prompt": "x", "cfg_scale": 31},
        {"prompt": "x", "width": 65},
        {"prompt": "x", "width": "wide"},
        {"prompt": "x", "batch_size": 5},
        {"prompt": "x", "scheduler": "nope"},
        {"prompt": "x", "mode": "teleport"},
        {"prompt": "x" * 5000},
        {"prompt": "nul \x00 byte"},
        {"prompt": ""},
    ],
)
def test_bad_job_requests_get_a_400_with_a_sentence(api, alice, body):
    api.force_authenticate(alice)
    response = api.post("/api/jobs/", body, format="json")
    assert response.status_code == 400, response.json()
    assert isinstance(response.json()["detail"], str) and len(response.json()["detail"]) > 5
    assert GenerationJob.objects.count() == 0


@pytest.mark.parametrize("mode", ["regenerate", "vary", "upscale", "inpaint"])
def test_a_job_from_an_image_that_does_not_exist_is_a_404_and_queues_nothing(api, alice, mode):
    api.force_authenticate(alice)
    response = api.post("/api/jobs/", {"mode": mode, "source_image": 999999}, format="json")
    assert response.status_code == 404
    assert response.json()["detail"] == "There is no image 999999."
    assert GenerationJob.objects.count() == 0


def test_anyone_may_vary_a_public_image_of_someone_else(api, alice, make_image):
    image = make_image()
    api.force_authenticate(alice)
    response = api.post("/api/jobs/", {"mode": "vary", "source_image": image.id}, format="json")
    assert response.status_code == 201


def test_over_the_cap_the_answer_is_429_with_retry_after(api, alice, settings):
    settings.GENERATION_MAX_ACTIVE_JOBS = 1
    api.force_authenticate(alice)
    assert api.post("/api/jobs/", {"prompt": "x"}, format="json").status_code == 201
    response = api.post("/api/jobs/", {"prompt": "x"}, format="json")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert "jobs waiting or running" in response.json()["detail"]


def test_an_idempotency_key_replays_the_job_or_answers_422(api, alice):
    api.force_authenticate(alice)
    first = api.post("/api/jobs/", {"prompt": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    again = api.post("/api/jobs/", {"prompt": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    other = api.post("/api/jobs/", {"prompt": "y"}, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    assert first.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert other.status_code == 422 and other.json()["detail"]
    assert GenerationJob.objects.count() == 1


def test_the_html_generate_form_queues_a_job_and_shows_its_page(client, alice):
    client.force_login(alice)
    response = client.post("/generate/", {"prompt": "a fox", "steps": "2", "seed": ""})
    assert response.status_code == 302
    job = GenerationJob.objects.get()
    assert response.url == f"/jobs/{job.id}/"
    page = client.get(response.url).content.decode()
    assert "Queued" in page and 'hx-trigger="every 1s"' in page
    services.job_execute(job_id=job.id)
    page = client.get(response.url, HTTP_HX_REQUEST="true").content.decode()
    assert "Succeeded" in page and "hx-trigger" not in page
    bad = client.post("/generate/", {"prompt": "a fox", "width": "65"})
    assert bad.status_code == 400 and "multiple of 8" in bad.content.decode()


def test_the_generate_form_starts_from_a_gallery_image(client, make_image):
    image = make_image(prompt="an owl librarian", negative_prompt="blurry", seed=1234)
    html = client.get(
        f"/generate/?source_image={image.id}&mode=regenerate&seed=1234"
    ).content.decode()
    assert ">an owl librarian</textarea>" in html and ">blurry</textarea>" in html
    assert 'name="seed" min="-1" value="1234"' in html
    assert 'value="regenerate" selected' in html

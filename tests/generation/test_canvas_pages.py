"""The canvas page and the "edited region" of the image page."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from generation import services
from generation.models import GenerationJob
from tests.generation.masks import data_url, mask_png

pytestmark = pytest.mark.django_db


def test_the_canvas_page_has_the_tools_and_the_source_prompt(client, alice, make_image):
    image = make_image(prompt="a fox in a (misty:1.2) forest", scheduler="DDIM", steps=12)
    client.force_login(alice)
    html = client.get(f"/images/{image.id}/canvas/").content.decode()
    assert ">a fox in a (misty:1.2) forest</textarea>" in html
    for tool in ("brush", "eraser", "rect"):
        assert f'data-tool="{tool}"' in html
    assert 'id="brush-size"' in html and 'id="undo"' in html and 'id="redo"' in html
    assert 'aria-keyshortcuts="Control+Z"' in html
    for side in ("left", "top", "right", "bottom"):
        assert f'class="extend-handle" data-side="{side}"' in html
        assert f'name="extend_{side}"' in html
    assert '<option value="64">64</option>' in html and '<option value="512">512</option>' in html
    assert '<option value="576">' not in html
    assert '<option value="DDIM" selected>' in html and 'name="steps" min="1" max="150" value="12"'
    assert 'name="mask_blur"' in html and 'name="only_masked"' in html
    assert f'data-image="{image.file.url}"' in html and "canvas.js" in html
    assert (
        f'href="/images/{image.id}/canvas/"' in client.get(f"/images/{image.id}/").content.decode()
    )


def test_the_canvas_page_needs_a_login_and_an_image_you_may_see(client, charlie, make_image):
    image = make_image()
    response = client.get(f"/images/{image.id}/canvas/")
    assert response.status_code == 302 and "/accounts/login/" in response.url
    client.force_login(charlie)
    assert client.get(f"/images/{image.id}/canvas/").status_code == 200
    assert client.get("/images/999999/canvas/").status_code == 404


def test_what_the_canvas_page_posts_queues_a_job(alice, make_image):
    # The page's script posts JSON with the page's CSRF token under the session login.
    image = make_image()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    html = browser.get(f"/images/{image.id}/canvas/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    body = {
        "mode": "outpaint",
        "source_image": image.id,
        "prompt": "a fox",
        "negative_prompt": "",
        "model": "tiny-test",
        "scheduler": "Euler a",
        "strength": None,
        "steps": 4,
        "cfg_scale": 7,
        "seed": None,
        "mask_blur": 4,
        "only_masked": False,
        "mask": data_url(mask_png()),
        "extend": {"left": 0, "top": 0, "right": 64, "bottom": 0},
    }
    refused = browser.post("/api/jobs/", json.dumps(body), content_type="application/json")
    assert refused.status_code == 403  # no token: CSRF holds
    response = browser.post(
        "/api/jobs/", json.dumps(body), content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 201, response.json()
    job = GenerationJob.objects.get()
    assert (job.mode, job.width, job.height) == ("outpaint", 128, 64)
    assert response.json()["page_url"].endswith(f"/jobs/{job.id}/")


def test_the_job_page_says_when_the_mask_was_resized(client, alice, make_image):
    image = make_image()
    job, _ = services.job_create(
        owner=alice,
        request=services.JobRequest(
            mode="inpaint", source_image=image.id, mask=mask_png((128, 128), (0, 0, 64, 64))
        ),
    )
    client.force_login(alice)
    html = client.get(f"/jobs/{job.id}/").content.decode()
    assert "The mask was 128x128; it was resized to 64x64." in html


def test_an_edited_image_shows_its_edited_region(client, alice, make_image):
    image = make_image()
    job, _ = services.job_create(
        owner=alice,
        request=services.JobRequest(
            mode="outpaint", source_image=image.id, extend={"right": 64}, steps=2
        ),
    )
    services.job_execute(job_id=job.id)
    job.refresh_from_db()
    result = job.images.get()
    html = client.get(f"/images/{result.id}/").content.decode()
    assert "Edited region" in html and "Outpainted: +64 px right" in html
    assert f'src="{job.mask.url}"' in html
    assert job.mask.storage.exists(job.mask.name)
    # The source itself was not edited, and says nothing of it.
    assert "Edited region" not in client.get(f"/images/{image.id}/").content.decode()

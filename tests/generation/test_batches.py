"""A wildcard batch as one grid: the jobs of one expansion share a key, the grid page shows a
cell per prompt labelled by what varies and fills in as the worker finishes them; the API
queues and lists a batch."""

from __future__ import annotations

import re

import pytest

from generation import services
from generation.models import GenerationJob
from generation.services import JobRequest
from generation.services.expand import jobs_create_expanded
from prompts.wildcards import prompts_varying_parts

pytestmark = pytest.mark.django_db


def _matrix(owner) -> list[GenerationJob]:
    return jobs_create_expanded(
        owner=owner,
        request=JobRequest(prompt="a fox|oil painting|at night", steps=1, seed=3),
        mode="matrix",
    )


def test_the_jobs_of_one_expansion_share_a_batch_key_and_another_expansion_gets_its_own(
    alice, settings
):
    settings.GENERATION_MAX_ACTIVE_JOBS = 9
    first, second = _matrix(alice), _matrix(alice)
    assert len({job.batch for job in first}) == 1 and first[0].batch
    assert first[0].batch != second[0].batch
    plain, _ = services.job_create(owner=alice, request=JobRequest(prompt="a fox"))
    assert plain.batch == ""


def test_grid_labels_are_the_phrases_not_every_prompt_shares():
    prompts = ["a fox", "a fox, oil painting", "a fox, at night", "a fox, oil painting, at night"]
    assert prompts_varying_parts(prompts) == [
        "(base)",
        "oil painting",
        "at night",
        "oil painting, at night",
    ]
    assert prompts_varying_parts(["a red car", "a blue car"]) == ["a red car", "a blue car"]
    assert prompts_varying_parts(["a cat"]) == ["a cat"]


def test_the_grid_fills_in_as_the_jobs_finish_then_stops_polling(client, alice):
    jobs = _matrix(alice)
    client.force_login(alice)
    url = f"/jobs/batches/{jobs[0].batch}/"
    page = client.get(url).content.decode()
    cells = re.findall(r'<li class="batch-cell" id="batch-job-(\d+)"', page)
    assert cells == [str(job.id) for job in jobs]  # expansion order
    assert "0 of 4 finished" in page and 'hx-trigger="every 1s"' in page
    for label in ("(base)", "oil painting", "at night", "oil painting, at night"):
        assert f">{label}</a>" in page

    for job in jobs:
        services.job_execute(job_id=job.id)
    page = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert page.lstrip().startswith('<section id="batch-grid"')  # the fragment htmx swaps
    assert "4 of 4 finished" in page and "hx-trigger" not in page
    for job in jobs:
        image = job.images.get()
        assert f'href="/images/{image.id}/"' in page


def test_someone_elses_batch_and_an_unknown_key_are_404(client, alice, charlie):
    jobs = _matrix(alice)
    client.force_login(charlie)
    assert client.get(f"/jobs/batches/{jobs[0].batch}/").status_code == 404
    assert client.get("/jobs/batches/0123456789abcdef/").status_code == 404


def test_the_jobs_page_links_each_batched_job_to_its_grid(client, alice):
    jobs = _matrix(alice)
    client.force_login(alice)
    page = client.get("/jobs/").content.decode()
    assert page.count(f'href="/jobs/batches/{jobs[0].batch}/"') == len(jobs)


def test_the_api_queues_a_batch_and_lists_its_jobs(api, alice, bob):
    api.force_authenticate(alice)
    response = api.post(
        "/api/jobs/batch/",
        {"prompt": "a {red|blue|green} fox", "steps": 1, "wildcards": "combinatorial"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [job["prompt"] for job in body["jobs"]] == ["a red fox", "a blue fox", "a green fox"]
    assert {job["batch"] for job in body["jobs"]} == {body["batch"]}
    assert body["page_url"].endswith(f"/jobs/batches/{body['batch']}/")
    services.job_create(owner=alice, request=JobRequest(prompt="not in the batch"))
    listed = api.get(f"/api/jobs/?batch={body['batch']}").json()["results"]
    assert sorted(job["id"] for job in listed) == sorted(job["id"] for job in body["jobs"])
    api.force_authenticate(bob)
    assert api.get(f"/api/jobs/?batch={body['batch']}").json()["results"] == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"prompt": "a {red|blue fox", "wildcards": "combinatorial"}, "cannot be read"),
        ({"prompt": "a __nope__ fox"}, "No wildcard file for __nope__"),
        ({"prompt": "a {red|blue} fox", "wildcards": "shuffle"}, "wildcards"),
        ({"prompt": "a {red|blue} fox", "count": 17}, "count"),
        ({"prompt": "a {red|blue} fox", "steps": 0}, "steps"),
        ({}, "Write a prompt"),
        ({"prompt": "{|}"}, "Write a prompt"),
    ],
)
def test_the_batch_api_refuses_bad_templates_and_queues_nothing(api, alice, body, detail):
    api.force_authenticate(alice)
    response = api.post("/api/jobs/batch/", body, format="json")
    assert response.status_code == 400
    assert detail in str(response.json())
    assert not GenerationJob.objects.exists()

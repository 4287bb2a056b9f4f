"""Wildcards: templates expanded into prompts, and into a batch of jobs."""

from __future__ import annotations

import pytest

from generation.models import GenerationJob
from generation.services import JobInputError, JobRequest
from generation.services.expand import jobs_create_expanded
from prompts.wildcards import WildcardError, prompt_expand, wildcard_names


@pytest.fixture
def wildcards(settings, tmp_path):
    settings.WILDCARDS_DIR = tmp_path / "wildcards"
    settings.WILDCARDS_DIR.mkdir()
    (settings.WILDCARDS_DIR / "colour.txt").write_text("red\ngreen\nblue\n")
    return settings.WILDCARDS_DIR


def test_combinatorial_gives_every_combination_of_variants_and_wildcard_values(wildcards):
    prompts = prompt_expand(text="a {big|small} __colour__ car")
    assert sorted(prompts) == sorted(
        f"a {size} {colour} car" for size in ("big", "small") for colour in ("red", "green", "blue")
    )
    assert wildcard_names() == ["colour"]
    assert len(prompt_expand(text="a {big|small} __colour__ car", count=4)) == 4


def test_random_draws_are_reproducible_with_a_seed(wildcards):
    first = prompt_expand(text="a __colour__ {car|bike}", mode="random", count=5, seed=7)
    again = prompt_expand(text="a __colour__ {car|bike}", mode="random", count=5, seed=7)
    assert first == again and len(first) == 5
    assert all(p.split()[1] in ("red", "green", "blue") for p in first)


def test_the_prompt_matrix_adds_every_subset_of_the_options():
    assert prompt_expand(text="a cat|oil painting|at night", mode="matrix") == [
        "a cat",
        "a cat, oil painting",
        "a cat, at night",
        "a cat, oil painting, at night",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text": "a __nope__ car"}, "No wildcard file for __nope__"),
        ({"text": "a car", "mode": "shuffle"}, "Unknown mode"),
        ({"text": "a car", "count": 17}, "between 1 and 16"),
    ],
)
def test_it_refuses_templates_it_cannot_expand(wildcards, kwargs, message):
    with pytest.raises(WildcardError, match=message):
        prompt_expand(**kwargs)


def test_the_expand_api_returns_the_prompts_and_refuses_bad_input(api, wildcards):
    ok = api.post(
        "/api/prompts/expand/",
        {"prompt": "a {red|blue} fox", "mode": "combinatorial"},
        format="json",
    )
    assert ok.status_code == 200
    assert sorted(ok.json()["prompts"]) == ["a blue fox", "a red fox"]
    bad = api.post("/api/prompts/expand/", {"prompt": "a __nope__ fox"}, format="json")
    assert bad.status_code == 400
    assert "No wildcard file" in bad.json()["detail"]


@pytest.mark.django_db
def test_a_template_becomes_one_job_per_prompt_with_one_shared_seed(alice, wildcards):
    jobs = jobs_create_expanded(
        owner=alice, request=JobRequest(prompt="a {red|blue} fox", steps=2), mode="combinatorial"
    )
    assert sorted(j.prompt for j in jobs) == ["a blue fox", "a red fox"]
    assert len({j.seed for j in jobs}) == 1
    assert all(j.status == GenerationJob.Status.QUEUED for j in jobs)


@pytest.mark.django_db
def test_a_batch_larger_than_the_free_job_slots_queues_nothing(alice, wildcards, settings):
    settings.GENERATION_MAX_ACTIVE_JOBS = 4
    with pytest.raises(JobInputError, match="makes 6 prompts but you can queue 4 more"):
        jobs_create_expanded(
            owner=alice,
            request=JobRequest(prompt="a {big|small} __colour__ car"),
            mode="combinatorial",
        )
    assert not GenerationJob.objects.exists()


@pytest.mark.django_db
def test_the_generate_form_expands_wildcards_into_jobs(client, alice, wildcards):
    client.force_login(alice)
    response = client.post(
        "/generate/",
        {"prompt": "a fox|oil painting", "wildcards": "matrix", "steps": "2"},
    )
    batch = GenerationJob.objects.values_list("batch", flat=True).first()
    assert response.status_code == 302 and response["Location"] == f"/jobs/batches/{batch}/"
    assert sorted(GenerationJob.objects.values_list("prompt", flat=True)) == [
        "a fox",
        "a fox, oil painting",
    ]

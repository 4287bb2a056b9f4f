"""Generation services with the tiny real model: submit, run, results, lineage, failures."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.utils import timezone
from PIL import Image as PILImage

from gallery.models import Image
from generation import services
from generation.models import GenerationJob
from generation.services import JobInputError, JobRequest

pytestmark = pytest.mark.django_db

Status = GenerationJob.Status


def run(owner, **fields) -> GenerationJob:
    job, _ = services.job_create(owner=owner, request=JobRequest(**fields))
    services.job_execute(job_id=job.id)
    job.refresh_from_db()
    return job


def pixels_of(image: Image) -> np.ndarray:
    with image.file.open("rb") as handle:
        return np.asarray(PILImage.open(handle).convert("RGB"))


def test_a_txt2img_job_stores_a_batch_of_images_with_every_parameter(alice):
    job = run(alice, prompt="a lighthouse, (storm:1.3)", batch_size=2, seed=77, steps=3)
    assert job.status == Status.SUCCEEDED and job.progress == 1.0 and job.attempts == 1
    images = list(job.images.order_by("seed"))
    assert [i.seed for i in images] == [77, 78]
    first = images[0]
    assert (first.width, first.height) == (64, 64)
    assert first.owner == alice and first.source == Image.Source.GENERATED
    assert (first.model_name, first.scheduler, first.steps, first.cfg_scale) == (
        "tiny-test",
        "Euler a",
        3,
        7.0,
    )
    assert len(first.model_hash) == 10
    with first.file.open("rb") as handle:
        text = PILImage.open(handle).text["parameters"]
    assert text.startswith("a lighthouse, (storm:1.3)\nSteps: 3, Sampler: Euler a")
    assert "Seed: 77" in text and f"Model hash: {first.model_hash}" in text


def test_a_blank_seed_is_random_and_recorded(alice):
    first, _ = services.job_create(owner=alice, request=JobRequest(prompt="a cat"))
    second, _ = services.job_create(owner=alice, request=JobRequest(prompt="a cat"))
    assert first.seed != second.seed
    assert 0 <= first.seed < 2**32


def test_the_same_seed_and_parameters_give_the_same_pixels_bit_for_bit(alice):
    a = run(alice, prompt="a red fox", seed=5, steps=3).images.get()
    b = run(alice, prompt="a red fox", seed=5, steps=3).images.get()
    c = run(alice, prompt="a red fox", seed=6, steps=3).images.get()
    assert np.array_equal(pixels_of(a), pixels_of(b))
    assert not np.array_equal(pixels_of(a), pixels_of(c))


def test_regenerate_reuses_the_source_parameters_and_records_the_parent(alice, bob):
    source = run(
        alice,
        prompt="an owl librarian",
        negative_prompt="blurry",
        steps=3,
        scheduler="DDIM",
        cfg_scale=5.0,
        width=64,
        height=96,
        seed=11,
    ).images.get()
    job = run(bob, mode="regenerate", source_image=source.id, seed=11)
    result = job.images.get()
    assert (result.prompt_id, result.scheduler, result.steps, result.cfg_scale) == (
        source.prompt_id,
        "DDIM",
        3,
        5.0,
    )
    assert (result.width, result.height) == (64, 96)
    assert np.array_equal(pixels_of(result), pixels_of(source))
    assert list(result.parents.all()) == [source]
    assert list(source.remixes.all()) == [result]
    assert result.owner == bob


def test_vary_and_upscale_are_img2img_from_the_source(alice):
    source = run(alice, prompt="a koi pond", steps=3, seed=1).images.get()
    subtle = run(alice, mode="vary", source_image=source.id, seed=2).images.get()
    strong = run(alice, mode="vary", source_image=source.id, strength=0.7, seed=2).images.get()
    assert subtle.extra["Denoising strength"] == 0.35
    assert strong.extra["Denoising strength"] == 0.7
    diff = [np.abs(pixels_of(x).astype(int) - pixels_of(source)).mean() for x in (subtle, strong)]
    assert 0 < diff[0] < diff[1]
    upscaled = run(alice, mode="upscale", source_image=source.id).images.get()
    assert (upscaled.width, upscaled.height) == (128, 128)
    assert list(upscaled.parents.all()) == [source]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x", "width": 65}, "multiple of 8"),
        ({"prompt": "x", "width": 4096}, "between"),
        ({"prompt": "x", "scheduler": "Warp drive"}, "Unknown scheduler"),
        ({"prompt": "x", "model": "sd-99"}, "Unknown model"),
        ({"prompt": "x", "cfg_scale": float("nan")}, "CFG"),
        ({"prompt": "x", "batch_size": 9}, "Batch"),
        ({"prompt": "x", "seed": 2**40}, "Seed"),
        ({"mode": "vary"}, "source_image"),
        ({"mode": "vary", "source_image": 424242}, "no image"),
        ({"prompt": "x", "source_image": 1}, "only used"),
    ],
)
def test_bad_requests_are_refused_before_anything_is_queued(alice, fields, message):
    with pytest.raises(JobInputError, match=message):
        services.job_create(owner=alice, request=JobRequest(**fields))
    assert GenerationJob.objects.count() == 0


def test_the_per_user_cap_counts_waiting_and_running_jobs(alice, bob, settings):
    settings.GENERATION_MAX_ACTIVE_JOBS = 2
    for _ in range(2):
        services.job_create(owner=alice, request=JobRequest(prompt="x"))
    with pytest.raises(services.JobLimitExceeded) as excinfo:
        services.job_create(owner=alice, request=JobRequest(prompt="x"))
    assert excinfo.value.retry_after >= 1
    services.job_create(owner=bob, request=JobRequest(prompt="x"))  # bob has his own cap


def test_an_idempotency_key_returns_the_first_job_or_refuses_another_request(alice):
    first, created = services.job_create(
        owner=alice, request=JobRequest(prompt="a cat"), idempotency_key="k1"
    )
    again, created_again = services.job_create(
        owner=alice, request=JobRequest(prompt="a cat"), idempotency_key="k1"
    )
    assert created and not created_again and again.id == first.id
    with pytest.raises(services.IdempotencyConflict):
        services.job_create(owner=alice, request=JobRequest(prompt="a dog"), idempotency_key="k1")


def test_a_duplicate_message_runs_nothing_twice(alice):
    job = run(alice, prompt="a fox", steps=2)
    services.job_execute(job_id=job.id)
    services.job_execute(job_id=424242)  # a message for a deleted job is skipped
    assert Image.objects.count() == 1


def test_a_cancelled_job_is_not_run(alice):
    job, _ = services.job_create(owner=alice, request=JobRequest(prompt="a fox"))
    services.job_cancel(job=job)
    services.job_execute(job_id=job.id)
    job.refresh_from_db()
    assert job.status == Status.CANCELLED and not job.images.exists()
    with pytest.raises(services.JobNotCancellable):
        services.job_cancel(job=run(alice, prompt="done", steps=2))


def test_cancelling_a_running_job_stops_its_step_loop(alice):
    job, _ = services.job_create(owner=alice, request=JobRequest(prompt="a fox", steps=10))
    job, attempt = services.job_claim(job_id=job.id)
    progress = services.JobProgress(job, attempt, interval=0)
    assert progress(1, 10, lambda: PILImage.new("RGB", (8, 8))) is True
    services.job_cancel(job=job)
    assert progress(2, 10, lambda: PILImage.new("RGB", (8, 8))) is False


def test_progress_and_a_preview_are_recorded_while_running(alice):
    job, _ = services.job_create(owner=alice, request=JobRequest(prompt="a fox", steps=8))
    job, attempt = services.job_claim(job_id=job.id)
    services.JobProgress(job, attempt, interval=0)(4, 8, lambda: PILImage.new("RGB", (8, 8)))
    job.refresh_from_db()
    assert 0.45 < job.progress < 0.55
    assert job.preview.startswith("data:image/webp;base64,")


def test_previews_keep_coming_when_the_time_throttle_lets_odd_steps_through(alice):
    # 80 steps: a preview is due every 10. The throttle passes steps 7, 19, 33, ... (none a
    # multiple of 10); each write that is 10 or more steps after the last preview carries one.
    job, _ = services.job_create(owner=alice, request=JobRequest(prompt="a fox", steps=80))
    job, attempt = services.job_claim(job_id=job.id)
    progress = services.JobProgress(job, attempt, interval=0)
    previews = []
    for step in (7, 19, 33, 41, 53):
        progress(step, 80, lambda s=step: PILImage.new("RGB", (8, 8), (3 * s, 0, 0)))
        job.refresh_from_db()
        previews.append(job.preview)
    # 7: too early; 19 and 33: new previews; 41 is only 8 steps after 33; 53: a new one.
    assert previews[0] == ""
    assert previews[2] == previews[3]
    assert len({previews[1], previews[2], previews[4]}) == 3


def test_a_worker_that_lost_its_lease_cannot_complete(alice):
    job, _ = services.job_create(owner=alice, request=JobRequest(prompt="a fox", steps=2))
    job, first_attempt = services.job_claim(job_id=job.id)
    GenerationJob.objects.filter(id=job.id).update(
        lease_until=timezone.now() - dt.timedelta(seconds=1)
    )
    assert services.jobs_reconcile()["requeued"] == 1
    services.job_execute(job_id=job.id)  # the second attempt completes
    stale = services.job_complete(
        job=job, attempt=first_attempt, images=[PILImage.new("RGB", (64, 64))], nsfw=[False]
    )
    job.refresh_from_db()
    assert stale is False
    assert job.status == Status.SUCCEEDED and job.attempts == 2
    assert job.images.count() == 1 and Image.objects.count() == 1


def test_a_job_that_keeps_killing_its_worker_fails_after_max_attempts(alice, settings):
    settings.GENERATION_MAX_ATTEMPTS = 2
    job, _ = services.job_create(owner=alice, request=JobRequest(prompt="poison"))
    expired = timezone.now() - dt.timedelta(seconds=1)
    for expected in ("requeued", "failed"):
        services.job_claim(job_id=job.id)  # ... and the worker dies mid-job
        GenerationJob.objects.filter(id=job.id).update(lease_until=expired)
        assert services.jobs_reconcile()[expected] == 1
    job.refresh_from_db()
    assert job.status == Status.FAILED and "2 times" in job.error


def test_the_reconciler_publishes_queued_jobs_whose_message_was_lost(alice, settings):
    job, _ = services.job_create(owner=alice, request=JobRequest(prompt="a fox"))
    assert job.enqueued_at is None  # the test never committed, so nothing was sent
    GenerationJob.objects.filter(id=job.id).update(
        created=timezone.now() - dt.timedelta(seconds=settings.GENERATION_REPUBLISH_SECONDS + 1)
    )
    assert services.jobs_reconcile()["republished"] == 1
    job.refresh_from_db()
    assert job.enqueued_at is not None
    assert services.jobs_reconcile()["republished"] == 0


def test_a_model_that_cannot_load_fails_the_job_with_a_readable_message(alice, settings):
    settings.SD_MODELS = {**settings.SD_MODELS, "broken": "/nonexistent/model/folder"}
    job = run(alice, prompt="a fox", model="broken")
    assert job.status == Status.FAILED
    assert job.error and "Traceback" not in job.error

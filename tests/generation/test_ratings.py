"""Ratings of generated images: the requester's choice, overridden by a safety checker's flag."""

from __future__ import annotations

import pytest
from PIL import Image as PILImage

from gallery.models import Image
from gallery.selectors import images_visible
from generation import services
from generation.services import JobRequest

pytestmark = pytest.mark.django_db


def test_a_flag_from_the_safety_checker_makes_that_image_explicit_whatever_was_asked(alice, bob):
    """The tiny test model has no safety checker, so this feeds `job_complete` what a pipeline
    with one returns: a per-image ``nsfw`` flag (see generation.pipelines.RenderResult)."""
    job, _ = services.job_create(
        owner=alice, request=JobRequest(prompt="a beach", batch_size=2, rating="safe")
    )
    job, attempt = services.job_claim(job_id=job.id)
    frames = [PILImage.new("RGB", (64, 64), (9, 9, 9)), PILImage.new("RGB", (64, 64))]
    assert services.job_complete(job=job, attempt=attempt, images=frames, nsfw=[False, True])
    ratings = list(job.images.order_by("seed").values_list("rating", flat=True))
    assert ratings == [Image.Rating.SAFE, Image.Rating.EXPLICIT]
    # ... and so a stranger, or a new account, never sees the flagged one.
    assert images_visible(user=bob).filter(generation_jobs=job).count() == 1


def test_the_requesters_rating_is_kept_when_nothing_is_flagged(alice):
    job, _ = services.job_create(
        owner=alice, request=JobRequest(prompt="a beach", steps=2, rating="suggestive")
    )
    services.job_execute(job_id=job.id)
    assert list(job.images.values_list("rating", flat=True)) == [Image.Rating.SUGGESTIVE]

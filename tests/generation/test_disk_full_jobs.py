"""A job whose results meet a full media disk is retried, not lost, and stored once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone

from gallery.models import Image
from generation import services
from generation.models import GenerationJob
from generation.services import JobRequest

pytestmark = pytest.mark.django_db


def _all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_a_job_whose_results_meet_a_full_disk_is_retried_and_stored_once(alice, full_media):
    media, filler = full_media
    before = _all_files(media)
    job, _ = services.job_create(
        owner=alice, request=JobRequest(prompt="a fox on a full disk", steps=2, batch_size=2)
    )
    # WHEN the worker renders and cannot store the results
    with pytest.raises(OSError):
        services.job_execute(job_id=job.id)
    job.refresh_from_db()
    # THEN nothing is half-stored and the job is not lost: it waits for its lease to run out
    assert job.status == GenerationJob.Status.RUNNING and job.images.count() == 0
    assert Image.objects.count() == 0 and _all_files(media) == before
    # AND once there is space, the reconciler queues it again and it completes exactly once
    filler.unlink()
    GenerationJob.objects.filter(id=job.id).update(
        lease_until=timezone.now() - dt.timedelta(seconds=1)
    )
    assert services.jobs_reconcile()["requeued"] == 1
    services.job_execute(job_id=job.id)
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.SUCCEEDED and job.attempts == 2
    assert job.images.count() == 2 and Image.objects.count() == 2

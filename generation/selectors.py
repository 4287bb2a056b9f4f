"""Reads for generation jobs, always scoped to their owner."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from gallery.selectors import image_list
from generation.models import GenerationJob


def jobs_of(*, user: AbstractBaseUser) -> QuerySet[GenerationJob]:
    """The user's jobs, newest first, with their result images joined in."""
    return GenerationJob.objects.filter(owner=user).prefetch_related(
        Prefetch("images", queryset=image_list(user=user).order_by("id"))
    )


def job_get(*, job_id: int, user: AbstractBaseUser) -> GenerationJob:
    """One of the user's jobs; someone else's job is a 404, like a missing one."""
    return get_object_or_404(jobs_of(user=user), pk=job_id)


def jobs_in_batch(*, batch: str, user: AbstractBaseUser) -> list[GenerationJob]:
    """The user's jobs of one wildcard batch, in the order they were expanded.

    Another user's batch, or an unknown key, is a 404 like a missing job.
    """
    jobs = list(jobs_of(user=user).filter(batch=batch).exclude(batch="").order_by("id"))
    if not jobs:
        raise Http404("No such batch.")
    return jobs


def job_queue_position(*, job: GenerationJob) -> int | None:
    """How many jobs run or wait ahead of this queued job (0: it is next)."""
    if job.status != GenerationJob.Status.QUEUED:
        return None
    ahead = GenerationJob.objects.filter(
        Q(status=GenerationJob.Status.RUNNING)
        | Q(status=GenerationJob.Status.QUEUED, created__lt=job.created)
        | Q(status=GenerationJob.Status.QUEUED, created=job.created, id__lt=job.id)
    )
    return ahead.count()

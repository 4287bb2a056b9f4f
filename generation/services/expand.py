"""A wildcard template as a batch of jobs: one job per expanded prompt, same settings."""

from __future__ import annotations

import dataclasses
import secrets
import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from generation.models import GenerationJob
from generation.services.submit import MAX_SEED, JobInputError, JobRequest, job_create
from prompts.wildcards import WildcardError, prompt_expand


def jobs_create_expanded(
    *, owner: AbstractBaseUser, request: JobRequest, mode: str, count: int | None = None
) -> list[GenerationJob]:
    """Queue one job per prompt of the template in ``request.prompt``, as one batch.

    Every job gets the same seed (the one given, or one random seed for all), so the grid of
    results differs by prompt only: what a prompt matrix is for. The jobs share a ``batch``
    key, which the grid page (`jobs_in_batch`) shows in expansion order. The whole batch must
    fit in the user's free job slots, or nothing is queued.
    """
    seed = request.seed if request.seed not in (None, -1) else secrets.randbelow(MAX_SEED)
    try:
        prompts = prompt_expand(text=request.prompt or "", mode=mode, count=count, seed=seed)
    except WildcardError as exc:
        raise JobInputError(str(exc)) from None
    if not any(prompt.strip() for prompt in prompts):
        raise JobInputError("Write a prompt: it cannot be empty.")
    active = GenerationJob.objects.filter(owner=owner, status__in=GenerationJob.ACTIVE).count()
    free = settings.GENERATION_MAX_ACTIVE_JOBS - active
    if len(prompts) > free:
        raise JobInputError(
            f"The template makes {len(prompts)} prompts but you can queue {max(free, 0)} more "
            "jobs now: lower the count or wait for your jobs to finish."
        )
    batch = uuid.uuid4().hex
    with transaction.atomic():  # all of the batch or none of it
        return [
            job_create(
                owner=owner,
                request=dataclasses.replace(request, prompt=prompt, seed=seed),
                batch=batch,
            )[0]
            for prompt in prompts
        ]

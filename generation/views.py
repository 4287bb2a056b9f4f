"""HTML pages for generation: the generate form, a job's live page, "My jobs"."""

from __future__ import annotations

import contextlib

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from gallery.selectors import image_get
from generation import services
from generation.canvas import DEFAULT_MASK_BLUR, MAX_EXTEND, MAX_MASK_BLUR, MIN_EXTEND
from generation.pipelines import scheduler_names
from generation.selectors import job_get, job_queue_position, jobs_in_batch, jobs_of
from generation.serializers import JobInputSerializer
from generation.services.expand import jobs_create_expanded
from prompts.text import MAX_PROMPT_CHARS
from prompts.wildcards import prompts_varying_parts


def generate(request: HttpRequest) -> HttpResponse:
    """The generate form; ``?source_image=&mode=`` pre-fill it from a gallery image."""
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return _submit(request)
    initial = {
        "mode": request.GET.get("mode", "txt2img"),
        "source_image": request.GET.get("source_image", ""),
        "strength": request.GET.get("strength", ""),
        "seed": request.GET.get("seed", ""),
    }
    source = None
    if initial["source_image"].isdigit():
        try:
            source = image_get(image_id=int(initial["source_image"]), user=request.user)
        except Http404:
            source = None
    if source is not None:
        # Shown and editable; left as is, the job uses the source's own prompt anyway.
        initial["prompt"] = source.prompt.text
        initial["negative_prompt"] = source.prompt.negative_text
    elif request.GET.get("prompt"):
        initial["prompt"] = request.GET["prompt"][:MAX_PROMPT_CHARS]  # from the enhancer
    return render(request, "generation/generate.html", _form_context(initial, source))


def _form_context(values: dict, source: object | None, errors: dict | None = None) -> dict:
    return {
        "values": values,
        "source": source,
        "errors": errors or {},
        "models": list(settings.SD_MODELS),
        "default_model": settings.SD_DEFAULT_MODEL,
        "schedulers": scheduler_names(),
        "default_scheduler": services.DEFAULT_SCHEDULER,
        "default_size": settings.SD_DEFAULT_SIZE,
        "default_steps": settings.SD_DEFAULT_STEPS,
    }


def _submit(request: HttpRequest) -> HttpResponse:
    values = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
    data = {k: v for k, v in values.items() if v != "" and k not in ("wildcards", "expand_count")}
    serializer = JobInputSerializer(data=data)
    wildcards = values.get("wildcards", "")
    if serializer.is_valid() and wildcards:
        return _submit_expanded(request, serializer, values)
    if serializer.is_valid():
        try:
            job, _ = services.job_create(owner=request.user, request=serializer.to_job_request())
        except services.JobInputError as exc:
            errors = {"detail": str(exc)}
        except services.JobLimitExceeded as exc:
            errors = {"detail": str(exc)}
        else:
            return redirect("generation:job", job_id=job.id)
    else:
        errors = {k: " ".join(str(m) for m in v) for k, v in serializer.errors.items()}
    return render(
        request, "generation/generate.html", _form_context(values, None, errors), status=400
    )


def _submit_expanded(
    request: HttpRequest, serializer: JobInputSerializer, values: dict
) -> HttpResponse:
    """The wildcard option: one job per expanded prompt, then the batch's grid."""
    count = values.get("expand_count", "")
    try:
        jobs = jobs_create_expanded(
            owner=request.user,
            request=serializer.to_job_request(),
            mode=values["wildcards"],
            count=int(count) if count.isdigit() else None,
        )
    except (services.JobInputError, services.JobLimitExceeded) as exc:
        return render(
            request,
            "generation/generate.html",
            _form_context(values, None, {"detail": str(exc)}),
            status=400,
        )
    return redirect("generation:batch", batch=jobs[0].batch)


@login_required
def canvas(request: HttpRequest, image_id: int) -> HttpResponse:
    """The canvas: paint a mask over any image you may see, or extend it, then describe what
    goes there. The page posts the job to ``/api/jobs/`` itself (static/canvas.js)."""
    source = image_get(image_id=image_id, user=request.user)
    values = {
        "prompt": source.prompt.text,
        "negative_prompt": source.prompt.negative_text,
        "scheduler": source.scheduler if source.scheduler in scheduler_names() else "",
        "steps": source.steps or settings.SD_DEFAULT_STEPS,
        "cfg_scale": source.cfg_scale if source.cfg_scale is not None else services.DEFAULT_CFG,
    }
    context = {
        **_form_context(values, source),
        "mask_blur": DEFAULT_MASK_BLUR,
        "max_mask_blur": MAX_MASK_BLUR,
        "extend_sizes": [0, *range(MIN_EXTEND, MAX_EXTEND + 1, 64)],
        "max_side": settings.SD_MAX_SIDE,
    }
    return render(request, "generation/canvas.html", context)


@login_required
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    """A job's page: position in the queue, progress, a preview, then the results."""
    job = job_get(job_id=job_id, user=request.user)
    template = "generation/_job_status.html" if request.htmx else "generation/job.html"
    return render(request, template, {"job": job, "position": job_queue_position(job=job)})


@login_required
@require_POST
def job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    """Cancel from the job page."""
    job = job_get(job_id=job_id, user=request.user)
    with contextlib.suppress(services.JobNotCancellable):  # finished meanwhile: just show it
        services.job_cancel(job=job)
    return redirect("generation:job", job_id=job.id)


@login_required
def batch_detail(request: HttpRequest, batch: str) -> HttpResponse:
    """A wildcard batch as one grid: a cell per expanded prompt, labelled by what varies,
    filling in live (htmx polls the grid while any of its jobs waits or runs)."""
    jobs = jobs_in_batch(batch=batch, user=request.user)
    labels = prompts_varying_parts([job.prompt for job in jobs])
    context = {
        "batch": batch,
        "cells": list(zip(jobs, labels, strict=True)),
        "first": jobs[0],
        "done": sum(job.is_finished for job in jobs),
        "active": any(not job.is_finished for job in jobs),
    }
    template = "generation/_batch_grid.html" if request.htmx else "generation/batch.html"
    return render(request, template, context)


@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    """My jobs, newest first."""
    return render(request, "generation/jobs.html", {"jobs": jobs_of(user=request.user)[:100]})

"""Running generation jobs on a worker: claim, render, store the results exactly once.

Everything a worker writes is conditional on the attempt it claimed, so a worker that was
killed, or that lost its lease, can run again but can never complete twice.
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from gallery.models import Image
from gallery.params import GenerationParams
from gallery.services import image_create
from generation.canvas import CanvasError, canvas_compose
from generation.models import GenerationJob
from generation.services.canvas import canvas_extra, canvas_job_plan
from generation.services.submit import (
    MAX_SEED,
    JobInputError,
    JobNotCancellable,
    Mode,
    Status,
    job_ttl_seconds,
)

if TYPE_CHECKING:
    from PIL import Image as PILImage


logger = logging.getLogger(__name__)

# --- Running ----------------------------------------------------------------------------------


def job_claim(*, job_id: int) -> tuple[GenerationJob, int] | None:
    """Move a queued job to running for this worker; return it and the attempt number.

    None when the job is gone, finished, cancelled or claimed by someone else: the message
    that brought us here was a duplicate, and doing nothing is right.
    """
    job = GenerationJob.objects.filter(id=job_id).first()
    if job is None or job.status != Status.QUEUED:
        return None
    now = timezone.now()
    ttl = job_ttl_seconds(job.steps, job.width, job.height, job.batch_size)
    claimed = GenerationJob.objects.filter(
        id=job_id, status=Status.QUEUED, attempts=job.attempts
    ).update(
        status=Status.RUNNING,
        attempts=F("attempts") + 1,
        lease_until=now + timedelta(seconds=settings.GENERATION_LEASE_SECONDS),
        deadline=now + timedelta(seconds=ttl),
        started=now,
        progress=0.0,
        preview="",
        error="",
    )
    if not claimed:
        return None
    job.refresh_from_db()
    return job, job.attempts


class JobProgress:
    """The step callback's side: progress, preview, lease renewal and cancellation checks.

    Writes at most every ``interval`` seconds. Every write is conditional on our attempt still
    running; when it matches no row the job was cancelled (or reclaimed) and rendering stops.
    """

    def __init__(self, job: GenerationJob, attempt: int, *, interval: float = 0.25) -> None:
        self.job_id = job.id
        self.attempt = attempt
        self.interval = interval
        self.preview_every = max(1, job.steps // 8)
        self._last = 0.0
        self._last_preview_step = 0

    def renew(self, **fields: Any) -> bool:
        lease = timezone.now() + timedelta(seconds=settings.GENERATION_LEASE_SECONDS)
        return bool(
            GenerationJob.objects.filter(
                id=self.job_id, attempts=self.attempt, status=Status.RUNNING
            ).update(lease_until=lease, **fields)
        )

    def __call__(self, step: int, total: int, preview: Any) -> bool:
        now = time.monotonic()
        if now - self._last < self.interval and step < total:
            return True
        self._last = now
        fields: dict[str, Any] = {"progress": min(1.0, step / max(1, total)) * 0.99}
        # "At least every N steps", not "on steps divisible by N": the time throttle above lets
        # only arbitrary steps through, which rarely were multiples of N (previews froze).
        if step - self._last_preview_step >= self.preview_every or step == total:
            self._last_preview_step = step
            fields["preview"] = _data_url(preview())
        return self.renew(**fields)


def _data_url(image: PILImage.Image) -> str:
    import base64
    import io

    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="WEBP", quality=70)
    return "data:image/webp;base64," + base64.b64encode(buffer.getvalue()).decode()


def _init_image(job: GenerationJob) -> PILImage.Image | None:
    if job.mode not in (Mode.VARY, Mode.UPSCALE):
        return None
    from PIL import Image as PILImage

    if job.source_image is None:
        raise JobInputError("The source image was deleted.")
    with job.source_image.file.open("rb") as handle:
        pixels = PILImage.open(handle)
        pixels.load()
    pixels = pixels.convert("RGB")
    if pixels.size != (job.width, job.height):
        # Upscale is A1111's "hires fix": enlarge, then img2img at low strength with the same
        # model to add detail, so it needs no extra upscaler weights.
        pixels = pixels.resize((job.width, job.height), PILImage.Resampling.LANCZOS)
    return pixels


@lru_cache(maxsize=16)
def model_hash(name: str) -> str:
    """A1111's short model hash (first 10 hex digits of the checkpoint's SHA-256).

    For a diffusers folder the UNet's weights file stands in for the checkpoint. Hub models
    that are not on disk yet have no hash until they are.
    """
    source = Path(str(settings.SD_MODELS.get(name, "")))
    candidates = [source] if source.is_file() else sorted(source.glob("unet/*.safetensors"))
    for path in candidates:
        if path.is_file():
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            return digest.hexdigest()[:10]
    return ""


def job_execute(*, job_id: int) -> None:
    """The worker's whole job: claim, render, store the results exactly once."""
    from generation import pipelines

    waiting = GenerationJob.objects.filter(id=job_id, status=Status.QUEUED).first()
    if waiting is None:
        logger.info("job %s: not queued any more, nothing to do", job_id)
        return
    # Load the model before claiming: a slow first load (imports, weights) then holds no lease,
    # and a worker that dies while loading leaves the job queued for the reconciler.
    timings: dict[str, float] = {}
    load_error: Exception | None = None
    started = time.perf_counter()
    canvas_job = waiting.mode in GenerationJob.CANVAS_MODES
    try:
        # A canvas job gets the model's dedicated inpainting UNet when one is configured.
        load = pipelines.get_inpaint_pipeline if canvas_job else pipelines.get_pipeline
        pipe = load(waiting.model_name)
    except Exception as exc:
        logger.exception("job %s: model %s did not load", job_id, waiting.model_name)
        load_error = exc
    timings["load"] = time.perf_counter() - started
    claimed = job_claim(job_id=job_id)
    if claimed is None:
        logger.info("job %s: claimed elsewhere or cancelled meanwhile", job_id)
        return
    job, attempt = claimed
    if load_error is not None:
        job_fail(job_id=job.id, attempt=attempt, error=f"The model did not load: {load_error}")
        return
    logger.info("job %s: attempt %s started", job.id, attempt)
    progress = JobProgress(job, attempt)
    try:
        started = time.perf_counter()
        request = pipelines.RenderRequest(
            prompt=job.prompt,
            negative_prompt=job.negative_prompt,
            scheduler=job.scheduler,
            steps=job.steps,
            cfg_scale=job.cfg_scale,
            width=job.width,
            height=job.height,
            seeds=[(job.seed + i) % (MAX_SEED + 1) for i in range(job.batch_size)],
            clip_skip=job.clip_skip,
            init_image=_init_image(job),
            strength=job.strength,
            blend=_blend(job),
        )
        plan = canvas_job_plan(job=job) if canvas_job else None
        if plan is not None:
            request.init_image, request.mask_image = plan.init_image, plan.model_mask
            request.width, request.height = plan.size
        result = pipelines.render(pipe, request, on_step=progress)
        if plan is not None:
            result.images = [canvas_compose(plan, image) for image in result.images]
    except pipelines.GenerationCancelled:
        logger.info("job %s: stopped (cancelled or reclaimed)", job.id)
        return
    except (pipelines.PipelineInputError, JobInputError, CanvasError) as exc:
        job_fail(job_id=job.id, attempt=attempt, error=str(exc))
        return
    except Exception as exc:
        from celery.exceptions import SoftTimeLimitExceeded

        if isinstance(exc, SoftTimeLimitExceeded):
            job_fail(job_id=job.id, attempt=attempt, error="The job took longer than allowed.")
            return
        logger.exception("job %s: attempt %s crashed", job.id, attempt)
        job_fail(job_id=job.id, attempt=attempt, error=f"The worker failed: {exc}")
        return
    timings["render"] = time.perf_counter() - started
    job_complete(job=job, attempt=attempt, images=result.images, nsfw=result.nsfw, timings=timings)


def job_complete(
    *,
    job: GenerationJob,
    attempt: int,
    images: list[PILImage.Image],
    nsfw: list[bool],
    timings: dict[str, float] | None = None,
) -> bool:
    """Store the results of one attempt as gallery images, unless that attempt lost the job."""
    hash_ = model_hash(job.model_name)
    started = time.perf_counter()
    with transaction.atomic():
        won = GenerationJob.objects.filter(
            id=job.id, attempts=attempt, status=Status.RUNNING
        ).update(
            status=Status.SUCCEEDED,
            progress=1.0,
            finished=timezone.now(),
            lease_until=None,
            preview="",
        )
        if not won:
            logger.info("job %s: attempt %s lost the job, results dropped", job.id, attempt)
            return False
        stored = []
        parents = _parents(job)
        for index, pixels in enumerate(images):
            flagged = index < len(nsfw) and nsfw[index]
            params = GenerationParams(
                prompt=job.prompt,
                negative_prompt=job.negative_prompt,
                model_name=job.model_name,
                model_hash=hash_,
                scheduler=job.scheduler,
                steps=job.steps,
                cfg_scale=job.cfg_scale,
                seed=(job.seed + index) % (MAX_SEED + 1),
                width=pixels.width,
                height=pixels.height,
                clip_skip=job.clip_skip,
                extra=_extra(job),
            )
            stored.append(
                image_create(
                    owner=job.owner,
                    pixels=pixels,
                    params=params,
                    source=Image.Source.GENERATED,
                    rating="explicit" if flagged else job.rating,
                    parents=parents,
                    origin_key=f"job:{job.id}:{index}",
                )
            )
        job.images.add(*stored)
        timings = {**(timings or {}), "store": time.perf_counter() - started}
        GenerationJob.objects.filter(id=job.id).update(
            timings={key: round(value, 4) for key, value in timings.items()}
        )
    logger.info("job %s: attempt %s stored %s images", job.id, attempt, len(stored))
    return True


def _blend(job: GenerationJob) -> list[tuple[str, float]] | None:
    """The prompts a blend job mixes, with their weights (checked when it was submitted)."""
    parts = (job.remix or {}).get("blend")
    return [(part["prompt"], part["weight"]) for part in parts] if parts else None


def _parents(job: GenerationJob) -> list[Image]:
    """The source image, and every source of a remix that still exists."""
    parents = [job.source_image] if job.source_image_id else []
    remix_ids = [i for i in (job.remix or {}).get("sources", []) if i != job.source_image_id]
    parents += list(Image.objects.filter(id__in=remix_ids).order_by("id"))
    return parents


def _extra(job: GenerationJob) -> dict[str, Any]:
    extra: dict[str, Any] = {"Job": job.id}
    if job.mode != Mode.TXT2IMG:
        extra["Mode"] = job.get_mode_display()
    if job.strength is not None:
        extra["Denoising strength"] = job.strength
    if job.source_image_id:
        extra["Parent image"] = job.source_image_id
    if job.mode in GenerationJob.CANVAS_MODES:
        extra |= canvas_extra(job=job)
    if job.remix:
        # A dict: kept in the image's extra for the image page, left out of the infotext.
        extra["Remix"] = job.remix
        extra["Remixed from"] = ", ".join(str(i) for i in job.remix.get("sources", []))
    return extra


def job_fail(*, job_id: int, attempt: int, error: str) -> bool:
    """Mark our attempt failed with a message a person can act on."""
    return bool(
        GenerationJob.objects.filter(id=job_id, attempts=attempt, status=Status.RUNNING).update(
            status=Status.FAILED, error=error[:2000], finished=timezone.now(), lease_until=None
        )
    )


def job_cancel(*, job: GenerationJob) -> GenerationJob:
    """Cancel a queued or running job; a running one stops at its next step."""
    updated = GenerationJob.objects.filter(id=job.id, status__in=GenerationJob.ACTIVE).update(
        status=Status.CANCELLED, finished=timezone.now(), lease_until=None, preview=""
    )
    job.refresh_from_db()
    if not updated and job.status != Status.CANCELLED:
        raise JobNotCancellable(f"The job has already {job.status}.")
    return job

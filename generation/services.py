"""Generation jobs: submit, claim, run, complete, cancel, reconcile.

The job row is the truth (see `GenerationJob`'s state machine). Everything a worker writes is
conditional on the attempt it claimed, so a worker that was killed, or that lost its lease,
can run again but can never complete twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from gallery.models import Image
from gallery.params import GenerationParams
from gallery.selectors import image_get
from gallery.services import image_create
from generation.models import GenerationJob
from prompts.text import MAX_PROMPT_CHARS

if TYPE_CHECKING:
    from PIL import Image as PILImage

logger = logging.getLogger(__name__)

Mode = GenerationJob.Mode
Status = GenerationJob.Status

MAX_STEPS = 150
MAX_CFG = 30.0
MAX_BATCH = 4
MAX_SEED = 2**32 - 1
DEFAULT_SCHEDULER = "Euler a"
DEFAULT_CFG = 7.0
DEFAULT_STRENGTH = {Mode.VARY: 0.35, Mode.UPSCALE: 0.3}
RATINGS = ("safe", "suggestive", "explicit")


class JobInputError(ValueError):
    """A request that cannot become a job; the message is shown to the user as is."""


class JobLimitExceeded(Exception):
    """The user already has as many jobs waiting or running as allowed."""

    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(
            f"You already have {limit} jobs waiting or running; wait for one to finish."
        )
        self.retry_after = retry_after


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with another request."""


class JobNotCancellable(Exception):
    """The job has finished already."""


@dataclass
class JobRequest:
    """What a client asks for. ``None`` means "not given": defaults or the source image fill it."""

    mode: str = Mode.TXT2IMG
    prompt: str | None = None
    negative_prompt: str | None = None
    model: str | None = None
    scheduler: str | None = None
    steps: int | None = None
    cfg_scale: float | None = None
    width: int | None = None
    height: int | None = None
    seed: int | None = None
    batch_size: int | None = None
    source_image: int | None = None
    strength: float | None = None
    clip_skip: int | None = None
    rating: str | None = None

    def fingerprint(self) -> str:
        """A stable hash of what was asked, for Idempotency-Key replays."""
        payload = {k: v for k, v in asdict(self).items() if v is not None}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


# --- Submitting -------------------------------------------------------------------------------


def _pick(value: Any, *fallbacks: Any) -> Any:
    for candidate in (value, *fallbacks):
        if candidate is not None and candidate != "":
            return candidate
    return None


def _resolve(request: JobRequest, *, owner: AbstractBaseUser) -> dict[str, Any]:
    """Turn a request into a complete, validated set of job fields (or raise JobInputError)."""
    from generation.pipelines import scheduler_names

    if request.mode not in Mode.values:
        raise JobInputError(f"Unknown mode {request.mode!r}; use one of {', '.join(Mode.values)}.")
    source: Image | None = None
    if request.mode == Mode.TXT2IMG:
        if request.source_image is not None:
            raise JobInputError("source_image is only used by regenerate, vary and upscale.")
    else:
        if request.source_image is None:
            raise JobInputError(f"Mode {request.mode} needs a source_image (an image id).")
        try:
            source = image_get(image_id=request.source_image, user=owner)
        except Exception:
            raise JobInputError(f"There is no image {request.source_image}.") from None

    default_model = settings.SD_DEFAULT_MODEL
    source_model = source.model_name if source and source.model_name in settings.SD_MODELS else None
    size = settings.SD_DEFAULT_SIZE
    fields: dict[str, Any] = {
        "mode": request.mode,
        "prompt": _pick(request.prompt, source and source.prompt.text) or "",
        "negative_prompt": _pick(request.negative_prompt, source and source.prompt.negative_text)
        or "",
        "model_name": _pick(request.model, source_model, default_model),
        "scheduler": _pick(
            request.scheduler,
            source.scheduler if source and source.scheduler in scheduler_names() else None,
            DEFAULT_SCHEDULER,
        ),
        "steps": _pick(request.steps, source and source.steps, settings.SD_DEFAULT_STEPS),
        "cfg_scale": _pick(request.cfg_scale, source and source.cfg_scale, DEFAULT_CFG),
        "batch_size": _pick(request.batch_size, 1),
        "clip_skip": _pick(request.clip_skip, source and source.clip_skip),
        "rating": _pick(request.rating, "safe"),
        "strength": _pick(request.strength, DEFAULT_STRENGTH.get(request.mode)),
        "source_image": source,
        "seed": request.seed if request.seed not in (None, -1) else secrets.randbelow(MAX_SEED),
    }
    if request.mode == Mode.UPSCALE:
        assert source is not None
        fields["width"], fields["height"] = source.width * 2, source.height * 2
    elif request.mode == Mode.VARY:
        assert source is not None
        fields["width"], fields["height"] = source.width, source.height
    else:
        fields["width"] = _pick(request.width, source and source.width, size)
        fields["height"] = _pick(request.height, source and source.height, size)
    if request.mode in (Mode.TXT2IMG, Mode.REGENERATE):
        fields["strength"] = None
    elif request.steps is None and fields["strength"]:
        # img2img runs steps x strength denoising steps; inherited steps must leave at least one.
        fields["steps"] = max(int(fields["steps"]), math.ceil(1 / float(fields["strength"])))
    _validate(fields, scheduler_names())
    return fields


def _validate(fields: dict[str, Any], schedulers: list[str]) -> None:
    """Bounds a job must respect before anything is queued."""
    if not fields["prompt"].strip() and fields["mode"] != Mode.UPSCALE:
        raise JobInputError("Write a prompt: it cannot be empty.")
    for name in ("prompt", "negative_prompt"):
        if len(fields[name]) > MAX_PROMPT_CHARS:
            raise JobInputError(f"The {name.replace('_', ' ')} is longer than {MAX_PROMPT_CHARS}.")
        if "\x00" in fields[name]:
            raise JobInputError(f"The {name.replace('_', ' ')} contains a NUL character.")
    if fields["model_name"] not in settings.SD_MODELS:
        known = ", ".join(settings.SD_MODELS)
        raise JobInputError(f"Unknown model {fields['model_name']!r}; available: {known}.")
    if fields["scheduler"] not in schedulers:
        raise JobInputError(
            f"Unknown scheduler {fields['scheduler']!r}; use one of {', '.join(schedulers)}."
        )
    low, high = settings.SD_MIN_SIDE, settings.SD_MAX_SIDE
    for side in ("width", "height"):
        value = fields[side]
        if not isinstance(value, int) or value % 8 or not low <= value <= high:
            raise JobInputError(
                f"{side.capitalize()} must be a multiple of 8 between {low} and {high}"
                f" (got {value})."
            )
    if not 1 <= int(fields["steps"]) <= MAX_STEPS:
        raise JobInputError(f"Steps must be between 1 and {MAX_STEPS}.")
    cfg = float(fields["cfg_scale"])
    if not math.isfinite(cfg) or not 0 <= cfg <= MAX_CFG:
        raise JobInputError(f"CFG scale must be between 0 and {MAX_CFG:g}.")
    if not 1 <= int(fields["batch_size"]) <= MAX_BATCH:
        raise JobInputError(f"Batch size must be between 1 and {MAX_BATCH}.")
    if not 0 <= int(fields["seed"]) <= MAX_SEED:
        raise JobInputError(f"Seed must be between 0 and {MAX_SEED} (or -1 for random).")
    strength = fields["strength"]
    if strength is not None and (not math.isfinite(strength) or not 0 < strength <= 1):
        raise JobInputError("Strength must be greater than 0 and at most 1.")
    if strength is not None and int(int(fields["steps"]) * strength) < 1:
        raise JobInputError("Steps x strength must be at least 1: raise the steps or strength.")
    if fields["clip_skip"] is not None and not 1 <= int(fields["clip_skip"]) <= 12:
        raise JobInputError("Clip skip must be between 1 and 12.")
    if fields["rating"] not in RATINGS:
        raise JobInputError(f"Rating must be one of {', '.join(RATINGS)}.")


def job_create(
    *, owner: AbstractBaseUser, request: JobRequest, idempotency_key: str = ""
) -> tuple[GenerationJob, bool]:
    """Validate and queue a job; return it and whether it is new.

    The same ``idempotency_key`` with the same request returns the first job; with another
    request it raises `IdempotencyConflict`. The per-user cap on active jobs is checked under a
    lock on the user's row, so concurrent submits cannot overshoot it. The broker message is
    sent after commit; if the broker is down the job waits for the reconciler.
    """
    idempotency_key = idempotency_key.strip()[:200]
    fingerprint = request.fingerprint()
    if idempotency_key:
        replay = _idempotent_replay(owner, idempotency_key, fingerprint)
        if replay is not None:
            return replay, False
    fields = _resolve(request, owner=owner)
    limit = settings.GENERATION_MAX_ACTIVE_JOBS
    try:
        with transaction.atomic():
            get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
            active = GenerationJob.objects.filter(owner=owner, status__in=GenerationJob.ACTIVE)
            if active.count() >= limit:
                raise JobLimitExceeded(limit, retry_after=_retry_after_estimate(fields))
            job = GenerationJob.objects.create(
                owner=owner,
                idempotency_key=idempotency_key,
                request_hash=fingerprint,
                max_attempts=settings.GENERATION_MAX_ATTEMPTS,
                **fields,
            )
            transaction.on_commit(lambda: job_publish(job_id=job.id))
    except IntegrityError:
        replay = (
            _idempotent_replay(owner, idempotency_key, fingerprint) if idempotency_key else None
        )
        if replay is None:
            raise
        return replay, False
    return job, True


def _idempotent_replay(owner: AbstractBaseUser, key: str, fingerprint: str) -> GenerationJob | None:
    existing = GenerationJob.objects.filter(owner=owner, idempotency_key=key).first()
    if existing is None:
        return None
    if existing.request_hash != fingerprint:
        raise IdempotencyConflict("This Idempotency-Key was already used for a different request.")
    return existing


def _retry_after_estimate(fields: dict[str, Any]) -> int:
    return max(
        1,
        min(
            300,
            int(
                _ttl_seconds_for(
                    fields["steps"], fields["width"], fields["height"], fields["batch_size"]
                )
                / 20
            ),
        ),
    )


def job_publish(*, job_id: int) -> bool:
    """Send the job's message to the GPU queue; a broker failure is logged, not raised.

    Publishing twice is harmless: the claim is conditional, so the second message is a no-op.
    """
    from config.celery import app

    try:
        app.send_task("generation.run_job", args=[job_id])
    except Exception:
        logger.warning("job %s: broker unavailable, the reconciler will publish it", job_id)
        return False
    GenerationJob.objects.filter(id=job_id, status=Status.QUEUED).update(enqueued_at=timezone.now())
    return True


# --- Running ----------------------------------------------------------------------------------


def _ttl_seconds_for(steps: int, width: int, height: int, batch_size: int) -> float:
    megapixel_steps = steps * width * height * batch_size / 1_000_000
    return (
        settings.GENERATION_TTL_BASE_SECONDS
        + megapixel_steps * settings.GENERATION_TTL_SECONDS_PER_MEGAPIXEL_STEP
    )


def job_claim(*, job_id: int) -> tuple[GenerationJob, int] | None:
    """Move a queued job to running for this worker; return it and the attempt number.

    None when the job is gone, finished, cancelled or claimed by someone else: the message
    that brought us here was a duplicate, and doing nothing is right.
    """
    job = GenerationJob.objects.filter(id=job_id).first()
    if job is None or job.status != Status.QUEUED:
        return None
    now = timezone.now()
    ttl = _ttl_seconds_for(job.steps, job.width, job.height, job.batch_size)
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


class _Progress:
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
        if step % self.preview_every == 0 or step == total:
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
    try:
        pipe = pipelines.get_pipeline(waiting.model_name)
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
    progress = _Progress(job, attempt)
    try:
        started = time.perf_counter()
        result = pipelines.render(
            pipe,
            pipelines.RenderRequest(
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
            ),
            on_step=progress,
        )
    except pipelines.GenerationCancelled:
        logger.info("job %s: stopped (cancelled or reclaimed)", job.id)
        return
    except (pipelines.PipelineInputError, JobInputError) as exc:
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
                    parents=[job.source_image] if job.source_image_id else [],
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


def _extra(job: GenerationJob) -> dict[str, Any]:
    extra: dict[str, Any] = {"Job": job.id}
    if job.mode != Mode.TXT2IMG:
        extra["Mode"] = job.get_mode_display()
    if job.strength is not None:
        extra["Denoising strength"] = job.strength
    if job.source_image_id:
        extra["Parent image"] = job.source_image_id
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


# --- Reconciling ------------------------------------------------------------------------------


def jobs_reconcile() -> dict[str, int]:
    """Repair what the broker cannot guarantee; run every few seconds by celery beat.

    - running jobs whose lease or deadline passed (their worker died): queued again, or failed
      once they have used ``max_attempts``;
    - queued jobs whose message was never sent or was lost: published again.
    """
    now = timezone.now()
    counts = {"requeued": 0, "failed": 0, "republished": 0}
    stuck = GenerationJob.objects.filter(status=Status.RUNNING).filter(
        Q(lease_until__lt=now) | Q(deadline__lt=now)
    )
    for job_id, attempts, max_attempts in stuck.values_list("id", "attempts", "max_attempts"):
        still_stuck = GenerationJob.objects.filter(
            id=job_id, status=Status.RUNNING, attempts=attempts
        )
        if attempts >= max_attempts:
            if still_stuck.update(
                status=Status.FAILED,
                finished=now,
                lease_until=None,
                error=f"The job stopped its worker {attempts} times; it will not be retried.",
            ):
                counts["failed"] += 1
                logger.warning("job %s: failed after %s attempts", job_id, attempts)
        elif still_stuck.update(status=Status.QUEUED, lease_until=None, enqueued_at=None):
            counts["requeued"] += 1
            logger.warning("job %s: attempt %s lost its worker, queued again", job_id, attempts)
            job_publish(job_id=job_id)
    stale = now - timedelta(seconds=settings.GENERATION_REPUBLISH_SECONDS)
    lost = GenerationJob.objects.filter(status=Status.QUEUED).filter(
        Q(enqueued_at__isnull=True, created__lt=stale) | Q(enqueued_at__lt=stale)
    )
    for job_id in lost.values_list("id", flat=True):
        if job_publish(job_id=job_id):
            counts["republished"] += 1
    return counts

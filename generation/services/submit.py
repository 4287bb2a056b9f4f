"""Submitting generation jobs: validate, apply defaults, enforce the caps, queue on commit."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from gallery.models import Image
from gallery.selectors import image_get
from generation.canvas import CanvasError
from generation.models import GenerationJob
from generation.services.canvas import canvas_fields, mask_fingerprint
from prompts.text import MAX_PROMPT_CHARS

logger = logging.getLogger(__name__)

Mode = GenerationJob.Mode
Status = GenerationJob.Status

MAX_STEPS = 150
MAX_CFG = 30.0
MAX_BATCH = 4
MAX_SEED = 2**32 - 1
DEFAULT_SCHEDULER = "Euler a"
DEFAULT_CFG = 7.0
DEFAULT_STRENGTH = {Mode.VARY: 0.35, Mode.UPSCALE: 0.3, Mode.INPAINT: 0.75, Mode.OUTPAINT: 0.9}
RATINGS = ("safe", "suggestive", "explicit")


class JobInputError(ValueError):
    """A request that cannot become a job; the message is shown to the user as is."""


class SourceNotFound(JobInputError):
    """A job's source image does not exist or is not the user's to see (a 404, as for a
    missing object anywhere else)."""


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
    # Canvas modes (inpaint, outpaint): PNG bytes or a data: URL, and the sides to add.
    mask: bytes | str | None = None
    extend: dict[str, Any] | None = None
    mask_blur: int | None = None
    only_masked: bool | None = None
    remix: dict[str, Any] | None = None

    def fingerprint(self) -> str:
        """A stable hash of what was asked, for Idempotency-Key replays."""
        payload = {k: v for k, v in asdict(self).items() if v is not None}
        if self.mask is not None:
            payload["mask"] = mask_fingerprint(self.mask)
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
    canvas_mode = request.mode in GenerationJob.CANVAS_MODES
    if not canvas_mode and (request.mask is not None or request.extend):
        raise JobInputError("mask and extend are only used by the inpaint and outpaint modes.")
    source: Image | None = None
    if request.mode == Mode.TXT2IMG:
        if request.source_image is not None:
            raise JobInputError(
                "source_image is only used by regenerate, vary, upscale, inpaint and outpaint."
            )
    else:
        if request.source_image is None:
            raise JobInputError(f"Mode {request.mode} needs a source_image (an image id).")
        try:
            source = image_get(image_id=request.source_image, user=owner)
        except Http404:
            raise SourceNotFound(f"There is no image {request.source_image}.") from None

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
        "remix": _remix(request.remix, owner=owner) or _blend_of_source(source, request),
        "seed": request.seed if request.seed not in (None, -1) else secrets.randbelow(MAX_SEED),
    }
    if canvas_mode:
        assert source is not None
        try:
            fields |= canvas_fields(
                mode=request.mode,
                source=source,
                mask=request.mask,
                extend=request.extend,
                mask_blur=request.mask_blur,
                only_masked=request.only_masked,
            )
        except CanvasError as exc:
            raise JobInputError(str(exc)) from None
    elif request.mode == Mode.UPSCALE:
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


MAX_REMIX_PHRASES = 200


def _remix(remix: dict[str, Any] | None, *, owner: AbstractBaseUser) -> dict[str, Any]:
    """The remix record of a job: source images the owner can see, strategy, phrase sources.

    What the remix tray sends with a combined prompt; the job's images get the sources as
    parents, and the image page shows which phrase came from which. A blend also carries
    ``blend``: the prompts whose embeddings the worker mixes, with their weights (what
    ``POST /api/prompts/combine/`` answers for the blend strategy); its sources may then be
    raw prompts only, so ``sources`` may be empty.
    """
    from prompts.remix import MAX_SOURCES, STRATEGIES

    if not remix:
        return {}
    if not isinstance(remix, dict):
        raise JobInputError("remix must be an object with sources, strategy and phrases.")
    blend = _blend(remix.get("blend"), strategy=remix.get("strategy", "merge"))
    sources = remix.get("sources", [] if blend else None)
    fewest = 0 if blend else 1
    if (
        not isinstance(sources, list)
        or not fewest <= len(sources) <= MAX_SOURCES
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in sources)
    ):
        raise JobInputError(f"remix.sources must list {fewest} to {MAX_SOURCES} image ids.")
    for image_id in sources:
        try:
            image_get(image_id=image_id, user=owner)
        except Http404:
            raise JobInputError(f"There is no image {image_id}.") from None
    strategy = remix.get("strategy", "merge")
    if strategy not in STRATEGIES:
        raise JobInputError(f"remix.strategy must be one of {', '.join(STRATEGIES)}.")
    phrases = remix.get("phrases") or []
    if not isinstance(phrases, list) or len(phrases) > MAX_REMIX_PHRASES:
        raise JobInputError(f"remix.phrases must list at most {MAX_REMIX_PHRASES} phrases.")
    kept = []
    for phrase in phrases:
        if not isinstance(phrase, dict) or not isinstance(phrase.get("text"), str):
            raise JobInputError('Each of remix.phrases is {"text", "source"}.')
        source = phrase.get("source")
        kept.append({"text": phrase["text"][:500], "source": source if source in sources else None})
    record = {"sources": list(dict.fromkeys(sources)), "strategy": strategy, "phrases": kept}
    return record | ({"blend": blend} if blend else {})


def _blend_of_source(source: Image | None, request: JobRequest) -> dict[str, Any]:
    """A blend image's blend, for a job made from it that keeps its prompt (regenerate, vary,
    upscale): its text is only the blend's stand-in, so rendering that text would not give
    the same picture. A job with a prompt of its own renders that prompt."""
    remix = (source.extra or {}).get("Remix") if source is not None else None
    if not isinstance(remix, dict) or not remix.get("blend"):
        return {}
    if request.prompt not in (None, "", source.prompt.text):
        return {}
    return {
        "sources": [],
        "strategy": "blend",
        "phrases": [],
        "blend": _blend(remix["blend"], strategy="blend"),
    }


def _blend(blend: Any, *, strategy: Any) -> list[dict[str, Any]]:
    """A blend's ``[{"prompt", "weight"}]``, checked, the weights scaled to sum to 1."""
    from prompts.remix import MAX_SOURCE_WEIGHT, MAX_SOURCES

    if blend is None:
        if strategy == "blend":
            raise JobInputError(
                'A blend needs remix.blend: [{"prompt", "weight"}, ...], as the combine API '
                "answers for the blend strategy."
            )
        return []
    if strategy != "blend":
        raise JobInputError('remix.blend is only used with remix.strategy "blend".')
    if not isinstance(blend, list) or not 2 <= len(blend) <= MAX_SOURCES:
        raise JobInputError(f"remix.blend must list 2 to {MAX_SOURCES} prompts.")
    parts = []
    for part in blend:
        prompt = part.get("prompt") if isinstance(part, dict) else None
        weight = part.get("weight", 1) if isinstance(part, dict) else None
        if not isinstance(prompt, str) or not prompt.strip():
            raise JobInputError('Each of remix.blend is {"prompt", "weight"} with a prompt.')
        if len(prompt) > MAX_PROMPT_CHARS or "\x00" in prompt:
            raise JobInputError(
                f"A blended prompt is at most {MAX_PROMPT_CHARS} characters, with no NUL."
            )
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not 0 <= weight <= MAX_SOURCE_WEIGHT
        ):
            raise JobInputError(f"Blend weights go from 0 to {MAX_SOURCE_WEIGHT}.")
        parts.append({"prompt": prompt, "weight": float(weight)})
    total = sum(part["weight"] for part in parts)
    if not total > 0:
        raise JobInputError("At least one blended prompt needs a weight above 0.")
    return [{**part, "weight": round(part["weight"] / total, 6)} for part in parts]


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
    # A canvas job's size is its source's (plus the extension), checked by `canvas_fields`.
    sides = () if fields["mode"] in GenerationJob.CANVAS_MODES else ("width", "height")
    for side in sides:
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
    *, owner: AbstractBaseUser, request: JobRequest, idempotency_key: str = "", batch: str = ""
) -> tuple[GenerationJob, bool]:
    """Validate and queue a job; return it and whether it is new.

    ``batch`` groups the jobs of one wildcard expansion (`jobs_create_expanded`).

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
    job = GenerationJob(
        owner=owner,
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        max_attempts=settings.GENERATION_MAX_ATTEMPTS,
        batch=batch,
        **fields,
    )
    try:
        with transaction.atomic():
            get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
            active = GenerationJob.objects.filter(owner=owner, status__in=GenerationJob.ACTIVE)
            if active.count() >= limit:
                raise JobLimitExceeded(limit, retry_after=_retry_after_estimate(fields))
            job.save(force_insert=True)
            transaction.on_commit(lambda: job_publish(job_id=job.id))
    except IntegrityError:
        # Lost a race for this Idempotency-Key: the row was rolled back, but a canvas job's
        # mask was already written to storage while saving it. No row points at it now.
        if job.mask:
            job.mask.delete(save=False)
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
                job_ttl_seconds(
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


def job_ttl_seconds(steps: int, width: int, height: int, batch_size: int) -> float:
    """How long one attempt may run: a base plus an allowance per megapixel-step."""
    megapixel_steps = steps * width * height * batch_size / 1_000_000
    return (
        settings.GENERATION_TTL_BASE_SECONDS
        + megapixel_steps * settings.GENERATION_TTL_SECONDS_PER_MEGAPIXEL_STEP
    )

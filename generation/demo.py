"""The demo gallery: prompts the project writes itself, rendered by the real job path.

Every demo image goes through `job_create` and `job_execute`, exactly like a user's job, so
the demo doubles as a smoke test of generation. Jobs carry idempotency keys: loading the demo
twice adds nothing the second time.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from django.contrib.auth import get_user_model

from generation import services
from generation.models import GenerationJob

DEMO_USERS = ("ada", "hokusai", "turner")

SUBJECTS = [
    "a lighthouse on a cliff",
    "a red fox in the snow",
    "an astronaut tending a greenhouse",
    "a quiet tea house in the mountains",
    "a clockwork hummingbird",
    "a flooded cathedral",
    "a street market at night",
    "a portrait of an old fisherman",
    "a dragon made of paper",
    "a cozy reading nook",
    "a desert caravan under two moons",
    "a koi pond in autumn",
    "a cyberpunk alley in the rain",
    "a field of sunflowers",
    "a sunken pirate ship",
    "a witch's apothecary",
    "a glass greenhouse on mars",
    "a samurai under cherry blossoms",
    "an owl librarian",
    "a floating island village",
]
STYLES = [
    "oil painting by claude monet",
    "ukiyo-e woodblock print in the style of hokusai",
    "watercolor, soft edges",
    "digital art, trending on artstation",
    "35mm photograph, kodak portra 400",
    "studio ghibli style",
    "art nouveau poster by alphonse mucha",
    "charcoal sketch",
    "by greg rutkowski, fantasy concept art",
    "low poly 3d render",
    "impressionist painting",
    "pixel art",
]
LIGHTING = [
    "golden hour",
    "volumetric light",
    "(dramatic lighting:1.2)",
    "soft morning mist",
    "neon glow",
    "moonlight",
]
QUALITY = ["highly detailed", "8k", "masterpiece", "sharp focus", "intricate"]
SIZES = [(64, 64), (64, 96), (96, 64), (64, 80), (80, 64)]
NEGATIVE = "blurry, lowres, watermark, text"
SCHEDULERS = ["Euler a", "DPM++ 2M Karras", "Euler", "DDIM", "UniPC"]


def demo_prompts(count: int) -> list[str]:
    """``count`` varied prompts: subject, style, lighting and quality tags, deterministic."""
    combos = itertools.product(range(len(SUBJECTS)), range(len(STYLES)))
    prompts = []
    for index, (s, t) in enumerate(combos):
        if len(prompts) == count:
            break
        subject = SUBJECTS[(s + index) % len(SUBJECTS)]
        style = STYLES[(t * 5 + index) % len(STYLES)]
        light = LIGHTING[index % len(LIGHTING)]
        quality = QUALITY[index % len(QUALITY)]
        prompts.append(f"{subject}, {style}, {light}, {quality}")
    return prompts


def demo_load(
    *, count: int = 60, variations: int = 4, steps: int = 8, echo: Callable[[str], None] = print
) -> int:
    """Render the demo gallery through the job path; return how many images were added."""
    User = get_user_model()
    users = []
    for name in DEMO_USERS:
        user, created = User.objects.get_or_create(username=name)
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        users.append(user)
    added = 0
    requests: list[tuple[int, services.JobRequest]] = []
    for index, prompt in enumerate(demo_prompts(count)):
        width, height = SIZES[index % len(SIZES)]
        requests.append(
            (
                index,
                services.JobRequest(
                    prompt=prompt,
                    negative_prompt=NEGATIVE if index % 3 == 0 else "",
                    scheduler=SCHEDULERS[index % len(SCHEDULERS)],
                    steps=steps,
                    cfg_scale=7.0,
                    width=width,
                    height=height,
                    seed=1000 + index,
                ),
            )
        )
    for index, request in requests:
        job = _run(users[index % len(users)], request, key=f"demo-{index}")
        added += job is not None
        if index % 10 == 9:
            echo(f"  {index + 1}/{count} demo images")
    for offset in range(variations):
        parent_job = GenerationJob.objects.filter(
            idempotency_key=f"demo-{offset * 7}", status=GenerationJob.Status.SUCCEEDED
        ).first()
        if parent_job is None or not parent_job.images.exists():
            continue
        parent = parent_job.images.first()
        request = services.JobRequest(
            mode=GenerationJob.Mode.VARY, source_image=parent.id, strength=0.7, seed=offset
        )
        job = _run(parent_job.owner, request, key=f"demo-vary-{offset}")
        added += job is not None
    return added


def _run(user: object, request: services.JobRequest, *, key: str) -> GenerationJob | None:
    job, created = services.job_create(owner=user, request=request, idempotency_key=key)
    if not created and job.status == GenerationJob.Status.SUCCEEDED:
        return None
    services.job_execute(job_id=job.id)
    job.refresh_from_db()
    if job.status != GenerationJob.Status.SUCCEEDED:
        raise RuntimeError(f"demo job {job.id} ended {job.status}: {job.error}")
    return job

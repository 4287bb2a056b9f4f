"""Canvas jobs (inpaint, outpaint): the mask and extension at submit, the plan on the worker.

At submit, `canvas_fields` checks the mask and the extension against the source image's size
(from its row: no file is read) and makes the canvas-sized mask the job keeps. On the worker,
`canvas_job_plan` reads the source's pixels and that mask and says what the model renders;
`generation.canvas.canvas_compose` pastes the result back.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.base import ContentFile

from generation import canvas
from generation.models import GenerationJob

if TYPE_CHECKING:
    from gallery.models import Image

Mode = GenerationJob.Mode


def canvas_fields(
    *,
    mode: str,
    source: Image,
    mask: bytes | str | None,
    extend: Any,
    mask_blur: int | None,
    only_masked: bool | None,
) -> dict[str, Any]:
    """The job fields of a canvas request, or `canvas.CanvasError` with a sentence.

    A mask of the source's aspect ratio but another size is resized (the job's ``notes`` say
    so); an empty mask is refused (nothing to do); a full mask is allowed (it is img2img).
    Outpainting may come with a mask for the source's area too; the new area is always masked.
    """
    sides = canvas.Extend.parse(extend)
    if mode == Mode.INPAINT and not sides.is_empty:
        raise canvas.CanvasError("Inpaint keeps the canvas size: use mode outpaint to extend.")
    if mode == Mode.OUTPAINT and sides.is_empty:
        raise canvas.CanvasError(
            'Outpaint needs extend, e.g. {"right": 128}: how many pixels to add on each side.'
        )
    blur = canvas.DEFAULT_MASK_BLUR if mask_blur is None else mask_blur
    if not 0 <= blur <= canvas.MAX_MASK_BLUR:
        raise canvas.CanvasError(f"Mask blur must be between 0 and {canvas.MAX_MASK_BLUR}.")
    size = (source.width, source.height)
    notes: list[str] = []
    user_mask = None
    if mask is not None and mask != "":
        user_mask, note = canvas.mask_fit(canvas.mask_decode(mask), size)
        notes += [note] if note else []
    elif mode == Mode.INPAINT:
        raise canvas.CanvasError("Inpaint needs a mask: a PNG upload or a data: URL.")
    full_mask = canvas.extend_mask(user_mask, size, sides) if mode == Mode.OUTPAINT else user_mask
    assert full_mask is not None
    if canvas.mask_is_empty(full_mask):
        raise canvas.CanvasError("The mask is empty: nothing to do. Paint the area to change.")
    width, height = full_mask.size
    limit = settings.SD_MAX_SIDE
    if max(width, height) > limit and not (mode == Mode.INPAINT and only_masked):
        what = "canvas would be" if mode == Mode.OUTPAINT else "image is"
        raise canvas.CanvasError(
            f"The {what} {width}x{height}, beyond the size limit of {limit} px a side"
            + ("." if mode == Mode.OUTPAINT else ': use "inpaint only the masked area".')
        )
    return {
        "width": width,
        "height": height,
        "extend": sides.as_dict() if mode == Mode.OUTPAINT else {},
        "mask_blur": blur,
        "only_masked": bool(only_masked),
        "notes": notes,
        "mask": ContentFile(canvas.mask_encode(full_mask), name=f"{uuid.uuid4().hex}.png"),
    }


def mask_fingerprint(mask: bytes | str | None) -> str | None:
    """A short stand-in for the mask in a request's fingerprint (Idempotency-Key replays)."""
    if mask is None:
        return None
    data = mask.encode() if isinstance(mask, str) else mask
    return hashlib.sha256(data).hexdigest()


def canvas_job_plan(*, job: GenerationJob) -> canvas.CanvasPlan:
    """What the worker renders for a canvas job: the source's pixels and the job's mask."""
    from PIL import Image as PILImage

    if job.source_image is None:
        raise canvas.CanvasError("The source image was deleted.")
    with job.source_image.file.open("rb") as handle:
        source = PILImage.open(handle)
        source.load()
    with job.mask.open("rb") as handle:
        mask = canvas.mask_decode(handle.read())
    return canvas.canvas_plan(
        source=source.convert("RGB"),
        mask=mask,
        extend=canvas.Extend.parse(job.extend),
        mask_blur=job.mask_blur or 0,
        only_masked=job.only_masked,
        native_side=settings.SD_DEFAULT_SIZE,
        max_side=settings.SD_MAX_SIDE,
    )


def canvas_extra(*, job: GenerationJob) -> dict[str, Any]:
    """What a canvas result records in its ``extra``: A1111's inpaint keys, and ``edit`` (the
    mask's storage name and the extension), which the gallery's image page shows."""
    extra: dict[str, Any] = {"Mask blur": job.mask_blur or 0}
    if job.only_masked:
        extra["Inpaint area"] = "Only masked"
        extra["Masked area padding"] = canvas.ONLY_MASKED_PADDING
    extra["edit"] = {"mode": job.mode, "mask": job.mask.name, "extend": job.extend}
    return extra

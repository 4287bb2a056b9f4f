"""Canvas image operations for inpaint and outpaint: masks, extension, crops, paste-back.

Pure functions on PIL images and numpy arrays: no torch, no Django, no storage, so they are
cheap to test and the web process can validate a mask without loading any model.

Conventions, as in diffusers and A1111: a mask is an ``L`` image of the canvas's size where
255 means "repaint" and 0 means "keep". The canvas is the source image, grown by `Extend`
when outpainting; the new area is always part of the mask.

How a job's pixels are made (see `canvas_plan` and `canvas_compose`):

1. the canvas is the source, extended and pre-filled with a blurred, edge-stretched copy of
   its borders (so the model sees plausible colours instead of a blank);
2. the region handed to the model is the whole canvas, or with "only masked" a box around the
   mask (plus padding) enlarged to the model's native resolution, A1111's "only masked";
3. the model's output is pasted back through a feathered mask (``mask_blur``): pixels farther
   than ``mask_blur`` from the mask are the source's own, bit for bit, whatever the VAE did.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image as PILImage
from PIL import ImageFilter

__all__ = [
    "DEFAULT_MASK_BLUR",
    "MAX_EXTEND",
    "MAX_MASK_BLUR",
    "MIN_EXTEND",
    "ONLY_MASKED_PADDING",
    "CanvasError",
    "CanvasPlan",
    "Extend",
    "canvas_compose",
    "canvas_plan",
    "extend_image",
    "extend_mask",
    "mask_decode",
    "mask_encode",
    "mask_feather",
    "mask_fit",
    "mask_is_empty",
    "work_size",
]

MIN_EXTEND, MAX_EXTEND = 64, 512
SIDES = ("left", "top", "right", "bottom")
DEFAULT_MASK_BLUR = 4
MAX_MASK_BLUR = 64
ONLY_MASKED_PADDING = 32  # A1111's default "only masked padding"
MAX_MASK_BYTES = 20 * 1024 * 1024
MAX_MASK_PIXELS = 4096 * 4096
# Masks drawn in a browser and scaled often differ from the image by a pixel or two; beyond
# this relative difference in aspect ratio the mask was drawn for another picture.
ASPECT_TOLERANCE = 0.02
_DATA_URL_PREFIX = "data:image/"


class CanvasError(ValueError):
    """A mask or extension we cannot use; the message is short and shown to users as is."""


@dataclass(frozen=True)
class Extend:
    """How many pixels to add on each side of the canvas (outpaint). Each side is 0 or
    between `MIN_EXTEND` and `MAX_EXTEND`, as the canvas page's handles allow."""

    left: int = 0
    top: int = 0
    right: int = 0
    bottom: int = 0

    @classmethod
    def parse(cls, value: Mapping[str, Any] | None) -> Extend:
        """Read ``{"left", "top", "right", "bottom"}`` (missing sides are 0), or raise."""
        if value is None:
            return cls()
        if not isinstance(value, Mapping):
            raise CanvasError('extend must be an object like {"left": 0, "right": 128}.')
        unknown = sorted(set(value) - set(SIDES))
        if unknown:
            raise CanvasError(f"extend has unknown sides: {', '.join(unknown)}; use {SIDES}.")
        sides: dict[str, int] = {}
        for side in SIDES:
            amount = value.get(side, 0)
            if amount is None:
                amount = 0
            if isinstance(amount, bool) or not isinstance(amount, int):
                raise CanvasError(f"extend.{side} must be a whole number of pixels.")
            if amount != 0 and not MIN_EXTEND <= amount <= MAX_EXTEND:
                raise CanvasError(
                    f"extend.{side} must be 0 or between {MIN_EXTEND} and {MAX_EXTEND} pixels"
                    f" (got {amount})."
                )
            sides[side] = amount
        return cls(**sides)

    @property
    def is_empty(self) -> bool:
        return not any(self.as_dict().values())

    def as_dict(self) -> dict[str, int]:
        return {side: getattr(self, side) for side in SIDES}

    def canvas_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """The size of a ``size`` image once extended."""
        return size[0] + self.left + self.right, size[1] + self.top + self.bottom


# --- masks -----------------------------------------------------------------------------------


def mask_decode(data: bytes | str) -> PILImage.Image:
    """A binary ``L`` mask from PNG (or any Pillow-readable) bytes, or a ``data:image/...`` URL.

    White (bright) pixels are repainted. A mask with transparency counts only its opaque
    strokes, so "white strokes on a transparent layer", as canvas apps export, works too.
    """
    if isinstance(data, str):
        data = _data_url_bytes(data)
    if not data:
        raise CanvasError("The mask is empty: send a PNG or a data: URL.")
    if len(data) > MAX_MASK_BYTES:
        raise CanvasError(f"The mask is larger than {MAX_MASK_BYTES // (1024 * 1024)} MB.")
    try:
        with PILImage.open(io.BytesIO(data)) as opened:
            if opened.width * opened.height > MAX_MASK_PIXELS:
                raise CanvasError("The mask has too many pixels.")
            opened.load()
            image = opened.copy()
    except CanvasError:
        raise
    except (OSError, ValueError, PILImage.DecompressionBombError):
        raise CanvasError("The mask is not an image Pillow can read (send a PNG).") from None
    if "A" in image.getbands() or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        gray = np.asarray(rgba.convert("L"), dtype=np.uint16)
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.uint16)
        values = (gray * alpha // 255).astype(np.uint8)
    else:
        values = np.asarray(image.convert("L"))
    return PILImage.fromarray(np.where(values > 127, 255, 0).astype(np.uint8), "L")


def _data_url_bytes(url: str) -> bytes:
    url = url.strip()
    if not url.startswith(_DATA_URL_PREFIX) or ";base64," not in url:
        raise CanvasError("The mask must be a PNG upload or a data:image/png;base64,... URL.")
    try:
        return base64.b64decode(url.split(";base64,", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        raise CanvasError("The mask's data URL is not valid base64.") from None


def mask_encode(mask: PILImage.Image) -> bytes:
    """The mask as a small PNG (1 bit per pixel would do; L keeps browsers and tools happy)."""
    buffer = io.BytesIO()
    mask.convert("L").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def mask_fit(mask: PILImage.Image, size: tuple[int, int]) -> tuple[PILImage.Image, str]:
    """The mask at ``size``, and a note for the user when it had to be resized.

    A mask with the same aspect ratio (within 2%) is resized (nearest neighbour, so it stays
    binary); another aspect ratio means it was drawn for another picture: `CanvasError`.
    """
    if mask.size == tuple(size):
        return mask, ""
    width, height = size
    if abs(mask.width / mask.height - width / height) > ASPECT_TOLERANCE * (width / height):
        raise CanvasError(
            f"The mask is {mask.width}x{mask.height} but the image is {width}x{height}: "
            "the aspect ratios differ, so it was drawn for another picture."
        )
    resized = mask.resize((width, height), PILImage.Resampling.NEAREST)
    return resized, f"The mask was {mask.width}x{mask.height}; it was resized to {width}x{height}."


def mask_is_empty(mask: PILImage.Image) -> bool:
    """True when nothing is marked for repainting."""
    return mask.getbbox() is None


def _dilate(values: np.ndarray, radius: int) -> np.ndarray:
    """Grey dilation by a (2 * radius + 1) square: each pixel becomes the max of its window."""
    if radius <= 0:
        return values
    from numpy.lib.stride_tricks import sliding_window_view

    out = values
    for axis in (0, 1):
        pad = [(radius, radius) if index == axis else (0, 0) for index in range(2)]
        padded = np.pad(out, pad)
        out = sliding_window_view(padded, 2 * radius + 1, axis=axis).max(axis=-1)
    return out


def mask_feather(mask: PILImage.Image, blur: int) -> PILImage.Image:
    """The alpha for pasting the model's output back: the mask with a ``blur``-pixel soft edge.

    A Gaussian (sigma = blur / 3) softens the edge on both sides, and the result is cut to the
    mask grown by ``blur`` pixels: beyond that distance alpha is exactly 0, so the source's
    pixels come back untouched (the Gaussian's tail there is below 0.2%, invisible).
    """
    if blur <= 0:
        return mask.copy()
    soft = np.asarray(mask.filter(ImageFilter.GaussianBlur(blur / 3)))
    grown = _dilate(np.asarray(mask), blur)
    alpha = np.where(grown > 0, np.maximum(soft, np.asarray(mask)), 0).astype(np.uint8)
    return PILImage.fromarray(alpha, "L")


# --- extension -------------------------------------------------------------------------------


def extend_image(image: PILImage.Image, extend: Extend) -> PILImage.Image:
    """The image on a larger canvas, the new area pre-filled with its borders stretched outward
    and blurred: the model gets the picture's colours to continue instead of a flat fill."""
    image = image.convert("RGB")
    if extend.is_empty:
        return image
    pixels = np.asarray(image)
    stretched = np.pad(
        pixels, ((extend.top, extend.bottom), (extend.left, extend.right), (0, 0)), mode="edge"
    )
    # Blur enough to hide the streaks of the stretched edge rows, scaled to the extension.
    radius = max(4, max(extend.as_dict().values()) // 8)
    canvas = PILImage.fromarray(stretched, "RGB").filter(ImageFilter.GaussianBlur(radius))
    canvas.paste(image, (extend.left, extend.top))
    return canvas


def extend_mask(
    mask: PILImage.Image | None, size: tuple[int, int], extend: Extend
) -> PILImage.Image:
    """The canvas's mask: the user's mask (for the source's area, or nothing) placed on the
    extended canvas, with the whole new area marked for painting."""
    canvas = PILImage.new("L", extend.canvas_size(size), 255)
    inner = mask if mask is not None else PILImage.new("L", size, 0)
    canvas.paste(inner.convert("L"), (extend.left, extend.top))
    return canvas


# --- planning and paste-back -----------------------------------------------------------------


def _multiple_of_8(value: float) -> int:
    return max(8, round(value / 8) * 8)


def work_size(size: tuple[int, int], *, min_long_side: int, max_side: int) -> tuple[int, int]:
    """The size the model renders a ``size`` region at: multiples of 8, the long side at least
    ``min_long_side`` (the model's native resolution: small crops are enlarged, which is the
    point of "only masked") and no side above ``max_side``."""
    width, height = size
    long_side = max(width, height)
    scale = max(1.0, min_long_side / long_side)
    scale = min(scale, max_side / long_side)
    return (
        min(_multiple_of_8(width * scale), max_side // 8 * 8),
        min(_multiple_of_8(height * scale), max_side // 8 * 8),
    )


def _crop_box(mask: PILImage.Image, *, margin: int) -> tuple[int, int, int, int]:
    """The mask's bounding box grown by ``margin`` on each side, inside the canvas."""
    box = mask.getbbox()
    assert box is not None, "an empty mask has no crop box"
    left, top, right, bottom = box
    return (
        max(0, left - margin),
        max(0, top - margin),
        min(mask.width, right + margin),
        min(mask.height, bottom + margin),
    )


@dataclass(frozen=True)
class CanvasPlan:
    """What the model is given for one canvas job, and how its output goes back.

    ``canvas`` is the full-size source (extended and pre-filled when outpainting), ``mask``
    the binary mask at that size, ``alpha`` the feathered paste-back mask. ``box`` is the
    region the model repaints (the whole canvas, or a box around the mask with "only masked"),
    rendered at ``size``.
    """

    canvas: PILImage.Image
    mask: PILImage.Image
    alpha: PILImage.Image
    box: tuple[int, int, int, int]
    size: tuple[int, int]

    @property
    def init_image(self) -> PILImage.Image:
        """The region the model sees, at its render size."""
        return _region(self.canvas, self.box, self.size, PILImage.Resampling.LANCZOS)

    @property
    def model_mask(self) -> PILImage.Image:
        """The region's mask at render size: everything that will be blended in is repainted."""
        grown = self.alpha.point(lambda value: 255 if value else 0)
        return _region(grown, self.box, self.size, PILImage.Resampling.NEAREST)


def _region(
    image: PILImage.Image,
    box: tuple[int, int, int, int],
    size: tuple[int, int],
    resample: PILImage.Resampling,
) -> PILImage.Image:
    region = image.crop(box)
    return region if region.size == size else region.resize(size, resample)


def canvas_plan(
    *,
    source: PILImage.Image,
    mask: PILImage.Image,
    extend: Extend,
    mask_blur: int,
    only_masked: bool,
    native_side: int,
    max_side: int,
) -> CanvasPlan:
    """Plan one canvas job. ``mask`` is the canvas-sized mask (`extend_mask` made it for
    outpainting); ``native_side`` is the model's resolution (for "only masked" crops)."""
    canvas = extend_image(source, extend)
    if mask.size != canvas.size:
        raise CanvasError(f"The mask is {mask.width}x{mask.height}, not {canvas.size}.")
    if mask_is_empty(mask):
        raise CanvasError("The mask is empty: paint the area to change.")
    alpha = mask_feather(mask, mask_blur)
    if only_masked:
        box = _crop_box(mask, margin=ONLY_MASKED_PADDING + mask_blur)
    else:
        box = (0, 0, canvas.width, canvas.height)
    region = (box[2] - box[0], box[3] - box[1])
    min_long = native_side if only_masked else 0
    return CanvasPlan(
        canvas=canvas,
        mask=mask,
        alpha=alpha,
        box=box,
        size=work_size(region, min_long_side=min_long, max_side=max_side),
    )


def canvas_compose(plan: CanvasPlan, generated: PILImage.Image) -> PILImage.Image:
    """The finished picture: the model's output, resized back into its box, blended into the
    canvas through the feathered mask. Outside the feather the canvas's pixels are exact."""
    left, top, right, bottom = plan.box
    region = generated.convert("RGB")
    if region.size != (right - left, bottom - top):
        region = region.resize((right - left, bottom - top), PILImage.Resampling.LANCZOS)
    painted = plan.canvas.copy()
    painted.paste(region, (left, top))
    return PILImage.composite(painted, plan.canvas, plan.alpha)

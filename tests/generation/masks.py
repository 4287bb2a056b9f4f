"""Test pictures for canvas tests: masks as PNG bytes and data URLs, noise sources."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image as PILImage


def mask_png(
    size: tuple[int, int] = (64, 64), box: tuple[int, int, int, int] | None = (16, 16, 40, 40)
) -> bytes:
    """A black mask with a white ``box`` (left, top, right, bottom) to repaint, as a PNG."""
    mask = PILImage.new("L", size, 0)
    if box:
        mask.paste(255, box)
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def noise(width: int = 64, height: int = 64, seed: int = 0) -> PILImage.Image:
    """A picture whose every pixel differs from its neighbours: nothing matches by luck."""
    values = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return PILImage.fromarray(values, "RGB")

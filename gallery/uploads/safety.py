"""Opening an untrusted image file without trusting anything in it.

The type is decided by decoding with Pillow restricted to PNG, JPEG and WebP, never by the
name or the Content-Type. The pixel count is read from the header and checked before any pixel
is decoded, so a decompression bomb costs a few microseconds. PNG text chunks are read by our
own chunk walker, with its own caps, and only the chunks that carry pixels are handed to
Pillow: whatever follows ``IEND`` (a polyglot's payload) or sits in a foreign chunk never
reaches the decoder, and oversized or broken metadata is dropped instead of failing the upload.
"""

from __future__ import annotations

import contextlib
import io
import struct
import warnings
import zlib
from dataclasses import dataclass, field

from PIL import Image as PILImage
from PIL import ImageCms, ImageOps, UnidentifiedImageError

FORMATS = ("PNG", "JPEG", "WEBP")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks that describe pixels; everything else (text, EXIF, XMP, APNG frames, private chunks)
# is left out of what Pillow sees and of what we store.
_PIXEL_CHUNKS = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"gAMA", b"cHRM", b"sRGB", b"iCCP"}
_TEXT_CHUNKS = {b"tEXt", b"zTXt", b"iTXt"}
# A ComfyUI workflow is a few hundred KB at most; more than this is not metadata we want.
MAX_CHUNK_TEXT = 1024 * 1024
MAX_TOTAL_TEXT = 4 * 1024 * 1024
MAX_TEXT_CHUNKS = 64
_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286
_IMAGE_DESCRIPTION = 0x010E


class UploadRefused(Exception):
    """A file we will not take, with a sentence for the person who sent it.

    ``status`` is the HTTP status the API answers with; ``existing`` names the image or
    draft an exact duplicate matches.
    """

    def __init__(self, message: str, *, status: int = 400, existing: dict | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.existing = existing


@dataclass
class DecodedImage:
    """Pixels we decoded ourselves, plus the text the file carried (untrusted, capped)."""

    pixels: PILImage.Image
    format: str
    chunks: dict[str, str] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)


def _inflate(data: bytes) -> bytes | None:
    """zlib-decompress at most MAX_CHUNK_TEXT bytes; None if broken or larger (a text bomb)."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, MAX_CHUNK_TEXT)
    except zlib.error:
        return None
    if inflater.unconsumed_tail:
        return None
    return out


def _text_chunk(kind: bytes, body: bytes) -> tuple[str, str] | None:
    """Decode one tEXt/zTXt/iTXt body into (keyword, text); None when it cannot be read."""
    keyword, sep, rest = body.partition(b"\0")
    if not sep or not keyword:
        return None
    key = keyword.decode("latin-1")
    if kind == b"tEXt":
        return key, rest.decode("latin-1")
    if kind == b"zTXt":
        inflated = _inflate(rest[1:]) if rest[:1] == b"\0" else None
        return None if inflated is None else (key, inflated.decode("latin-1"))
    # iTXt: compression flag, method, language tag \0, translated keyword \0, text.
    if len(rest) < 2:
        return None
    compressed, parts = rest[0], rest[2:].split(b"\0", 2)
    if len(parts) != 3:
        return None
    text = parts[2]
    if compressed:
        inflated = _inflate(text)
        if inflated is None:
            return None
        text = inflated
    return key, text.decode("utf-8", "replace")


def _png_split(data: bytes) -> tuple[bytes, dict[str, str], list[str]]:
    """Walk PNG chunks: keep pixel chunks for Pillow, read text chunks into a dict.

    Stops at IEND, so bytes appended after it are never looked at. A truncated chunk ends the
    walk; Pillow then reports the file as damaged.
    """
    kept = [PNG_SIGNATURE]
    chunks: dict[str, str] = {}
    dropped: list[str] = []
    total_text, offset = 0, len(PNG_SIGNATURE)
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        end = offset + 12 + length
        if end > len(data):
            kept.append(data[offset:])
            break
        if kind in _PIXEL_CHUNKS:
            kept.append(data[offset:end])
        elif kind in _TEXT_CHUNKS:
            body = data[offset + 8 : offset + 8 + length]
            decoded = None if len(chunks) >= MAX_TEXT_CHUNKS else _text_chunk(kind, body)
            if decoded is None or len(decoded[1]) > MAX_CHUNK_TEXT:
                dropped.append(kind.decode("latin-1"))
            elif total_text + len(decoded[1]) > MAX_TOTAL_TEXT:
                dropped.append(decoded[0][:64])
            else:
                chunks.setdefault(decoded[0][:79], decoded[1])
                total_text += len(decoded[1])
        if kind == b"IEND":
            break
        offset = end
    return b"".join(kept), chunks, dropped


def _decode_user_comment(raw: object) -> str | None:
    """EXIF UserComment: an 8-byte charset prefix, then the text (A1111 writes UTF-16 BE)."""
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, bytes) or len(raw) <= 8:
        return None
    prefix, body = raw[:8], raw[8:]
    if prefix.startswith(b"UNICODE"):
        # piexif (A1111, Forge) writes big-endian; some tools write little-endian.
        little = body[1:2] == b"\0" and body[:1] != b"\0"
        return body.decode("utf-16-le" if little else "utf-16-be", "replace")
    return body.decode("utf-8", "replace")


def _exif_texts(image: PILImage.Image) -> dict[str, str]:
    """The text an A1111/Forge/Fooocus JPEG or WebP carries in EXIF (hostile EXIF: nothing)."""
    texts: dict[str, str] = {}
    try:
        exif = image.getexif()
        comment = _decode_user_comment(exif.get_ifd(_EXIF_IFD).get(_USER_COMMENT))
        description = exif.get(_IMAGE_DESCRIPTION)
    except Exception:  # any malformed EXIF only costs the metadata
        return texts
    if comment and comment.strip("\0 "):
        texts["UserComment"] = comment.strip("\0")[:MAX_CHUNK_TEXT]
    if isinstance(description, str) and description.strip():
        texts["ImageDescription"] = description[:MAX_CHUNK_TEXT]
    comment_marker = image.info.get("comment")
    if isinstance(comment_marker, bytes) and comment_marker.strip():
        texts["comment"] = comment_marker[:MAX_CHUNK_TEXT].decode("utf-8", "replace")
    return texts


def _to_srgb(image: PILImage.Image) -> PILImage.Image:
    """Apply an embedded ICC profile, so dropping the profile keeps the colours right."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA"):
        return image
    try:
        converted = ImageCms.profileToProfile(
            image,
            ImageCms.ImageCmsProfile(io.BytesIO(icc)),
            ImageCms.createProfile("sRGB"),
            outputMode=image.mode,
        )
    except Exception:  # a broken profile: keep the pixels as they are
        return image
    return converted if converted is not None else image


def _normalise(image: PILImage.Image) -> PILImage.Image:
    """Upright, sRGB, in a mode PNG stores plainly (RGB, RGBA or L)."""
    with contextlib.suppress(Exception):  # a broken orientation tag: leave it as decoded
        image = ImageOps.exif_transpose(image) or image
    if image.mode in ("P", "PA", "LA", "La") or "transparency" in image.info:
        image = image.convert("RGBA")
    elif image.mode not in ("RGB", "RGBA", "L"):
        image = image.convert("RGB")
    image = _to_srgb(image)
    image.info.clear()
    return image


def image_decode_untrusted(*, data: bytes, max_pixels: int) -> DecodedImage:
    """Decode PNG/JPEG/WebP bytes from a stranger, or raise `UploadRefused` (never anything else).

    The returned pixels are fully loaded and detached from the file, with no metadata attached.
    """
    chunks: dict[str, str] = {}
    dropped: list[str] = []
    to_decode = data
    if data.startswith(PNG_SIGNATURE):
        to_decode, chunks, dropped = _png_split(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PILImage.DecompressionBombWarning)
        try:
            image = PILImage.open(io.BytesIO(to_decode), formats=list(FORMATS))
            width, height = image.size
        except UnidentifiedImageError:
            raise UploadRefused(
                "This file is not a PNG, JPEG or WebP image, so it cannot be uploaded."
            ) from None
        except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
            raise _too_many_pixels(max_pixels) from None
        except Exception:  # any header Pillow cannot read is a damaged file
            raise UploadRefused("This image is damaged and could not be read.") from None
        if width * height > max_pixels:
            raise _too_many_pixels(max_pixels)
        if width <= 0 or height <= 0:
            raise UploadRefused("This image has no pixels.")
        if image.format in ("JPEG", "WEBP"):
            chunks = _exif_texts(image)
        try:
            image.load()
            pixels = _normalise(image)
        except Exception:  # truncated or corrupt pixel data
            raise UploadRefused("This image is damaged and could not be read.") from None
    return DecodedImage(pixels=pixels, format=image.format or "", chunks=chunks, dropped=dropped)


def _too_many_pixels(max_pixels: int) -> UploadRefused:
    return UploadRefused(
        f"This image has too many pixels: the limit is {max_pixels / 1_000_000:g} megapixels.",
        status=413,
    )

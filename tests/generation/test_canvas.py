"""Canvas image operations: masks, extension, feathering, "only masked" plans, paste-back."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image as PILImage

from generation.canvas import (
    CanvasError,
    Extend,
    canvas_compose,
    canvas_plan,
    extend_image,
    extend_mask,
    mask_decode,
    mask_encode,
    mask_feather,
    mask_fit,
    mask_is_empty,
    work_size,
)
from tests.generation.masks import noise


def square_mask(size=(64, 64), box=(20, 20, 40, 40)) -> PILImage.Image:
    mask = PILImage.new("L", size, 0)
    mask.paste(255, box)
    return mask


def png(image: PILImage.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_mask_reads_from_png_bytes_and_from_a_data_url_as_binary():
    gray = square_mask()
    gray.putpixel((0, 0), 100)  # dim: kept
    gray.putpixel((1, 0), 200)  # bright: repainted
    url = "data:image/png;base64," + base64.b64encode(png(gray)).decode()
    for data in (png(gray), url):
        mask = mask_decode(data)
        assert mask.mode == "L" and mask.size == (64, 64)
        assert set(np.unique(np.asarray(mask))) == {0, 255}
        assert mask.getpixel((0, 0)) == 0 and mask.getpixel((1, 0)) == 255
        assert mask.getpixel((30, 30)) == 255 and mask.getpixel((50, 50)) == 0


def test_white_strokes_on_a_transparent_layer_are_the_mask():
    layer = PILImage.new("RGBA", (64, 64), (255, 255, 255, 0))  # white but transparent: keep
    layer.paste((255, 255, 255, 255), (0, 0, 10, 10))
    mask = mask_decode(png(layer))
    assert mask.getbbox() == (0, 0, 10, 10)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"not a png at all", "not an image"),
        ("data:text/plain;base64,aGk=", "data:image/png"),
        ("data:image/png;base64,***", "base64"),
        ("https://example.com/mask.png", "data:image/png"),
    ],
)
def test_a_mask_that_is_not_an_image_is_refused_clearly(data, message):
    with pytest.raises(CanvasError, match=message):
        mask_decode(data)


def test_a_mask_of_the_same_aspect_is_resized_with_a_note():
    mask, note = mask_fit(square_mask((128, 128), (40, 40, 80, 80)), (64, 64))
    assert mask.size == (64, 64) and mask.getbbox() == (20, 20, 40, 40)
    assert "128x128" in note and "64x64" in note
    same, no_note = mask_fit(square_mask(), (64, 64))
    assert same.size == (64, 64) and no_note == ""


def test_a_mask_of_another_aspect_is_refused():
    with pytest.raises(CanvasError, match="aspect"):
        mask_fit(square_mask((128, 64)), (64, 64))


def test_an_empty_mask_is_recognised():
    assert mask_is_empty(PILImage.new("L", (64, 64), 0))
    assert not mask_is_empty(square_mask())


def test_an_encoded_mask_decodes_to_the_same_mask():
    mask = square_mask()
    assert np.array_equal(np.asarray(mask_decode(mask_encode(mask))), np.asarray(mask))


@pytest.mark.parametrize(
    "value, message",
    [
        ({"left": 32}, "between 64 and 512"),
        ({"top": 513}, "between 64 and 512"),
        ({"right": "wide"}, "whole number"),
        ({"right": 64.5}, "whole number"),
        ({"up": 64}, "unknown sides"),
        ([64, 64], "must be an object"),
    ],
)
def test_an_extension_outside_64_to_512_pixels_a_side_is_refused(value, message):
    with pytest.raises(CanvasError, match=message):
        Extend.parse(value)


def test_an_extension_reads_missing_sides_as_zero():
    extend = Extend.parse({"left": 64, "bottom": 128})
    assert extend.as_dict() == {"left": 64, "top": 0, "right": 0, "bottom": 128}
    assert extend.canvas_size((64, 64)) == (128, 192) and not extend.is_empty
    assert Extend.parse(None).is_empty and Extend.parse({}).is_empty


def test_an_extended_image_keeps_the_original_at_its_offset_and_stretches_its_edges():
    source = PILImage.new("RGB", (64, 64), (200, 60, 30))
    source.paste((10, 200, 40), (0, 0, 64, 8))  # a green top band
    extend = Extend(left=64, top=64)
    canvas = extend_image(source, extend)
    assert canvas.size == (128, 128)
    assert np.array_equal(np.asarray(canvas)[64:, 64:], np.asarray(source))
    # Above the green band the new area continues it (blurred), not a flat fill.
    above = np.asarray(canvas)[10, 100]
    assert above[1] > 150 and above[0] < 60
    # Left of the red body it is red.
    assert tuple(np.asarray(canvas)[110, 10]) == (200, 60, 30)


def test_the_extended_mask_marks_the_new_area_and_keeps_the_users_strokes():
    extend = Extend(right=64)
    mask = extend_mask(square_mask(), (64, 64), extend)
    values = np.asarray(mask)
    assert mask.size == (128, 64)
    assert (values[:, 64:] == 255).all()
    assert (values[20:40, 20:40] == 255).all() and values[5, 5] == 0
    assert np.asarray(extend_mask(None, (64, 64), extend))[:, :64].max() == 0


def test_the_feather_is_soft_at_the_edge_and_exactly_zero_beyond_the_blur():
    mask = square_mask()
    alpha = np.asarray(mask_feather(mask, 4))
    assert alpha[30, 30] == 255  # deep inside
    assert 0 < alpha[30, 41] < 255  # just outside: blended
    ring = np.ones((64, 64), bool)
    ring[16:44, 16:44] = False  # farther than 4 px from the mask
    assert alpha[ring].max() == 0
    assert np.array_equal(np.asarray(mask_feather(mask, 0)), np.asarray(mask))


def test_pasting_back_keeps_every_pixel_beyond_the_feather_exactly():
    source = noise()
    mask = square_mask()
    plan = canvas_plan(
        source=source,
        mask=mask,
        extend=Extend(),
        mask_blur=4,
        only_masked=False,
        native_side=64,
        max_side=2048,
    )
    assert plan.box == (0, 0, 64, 64) and plan.size == (64, 64)
    generated = PILImage.new("RGB", (64, 64), (0, 0, 255))
    result = np.asarray(canvas_compose(plan, generated))
    keep = np.ones((64, 64), bool)
    keep[16:44, 16:44] = False
    assert np.array_equal(result[keep], np.asarray(source)[keep])
    assert tuple(result[30, 30]) == (0, 0, 255)
    # The seam is a blend, neither the source nor the paint.
    edge = result[30, 41]
    assert edge[2] > np.asarray(source)[30, 41][2] or edge[0] < np.asarray(source)[30, 41][0]


def test_only_masked_crops_around_the_mask_and_renders_it_at_the_native_size():
    source = noise(256, 256)
    mask = square_mask((256, 256), (100, 100, 120, 140))
    plan = canvas_plan(
        source=source,
        mask=mask,
        extend=Extend(),
        mask_blur=4,
        only_masked=True,
        native_side=128,
        max_side=2048,
    )
    assert plan.box == (64, 64, 156, 176)  # the mask plus 32 px padding plus the blur
    assert plan.size == (104, 128)  # enlarged to 128 on the long side, multiples of 8
    assert plan.init_image.size == plan.size and plan.model_mask.size == plan.size
    result = np.asarray(canvas_compose(plan, PILImage.new("RGB", plan.size, (0, 255, 0))))
    keep = np.ones((256, 256), bool)
    keep[96:144, 96:124] = False  # rows, columns: the mask grown by the blur
    assert np.array_equal(result[keep], np.asarray(source)[keep])
    assert tuple(result[130, 110]) == (0, 255, 0)


def test_an_empty_mask_cannot_be_planned():
    with pytest.raises(CanvasError, match="empty"):
        canvas_plan(
            source=noise(),
            mask=PILImage.new("L", (64, 64), 0),
            extend=Extend(),
            mask_blur=4,
            only_masked=False,
            native_side=64,
            max_side=2048,
        )


def test_the_render_size_is_a_multiple_of_8_within_the_limits():
    assert work_size((64, 64), min_long_side=0, max_side=2048) == (64, 64)
    assert work_size((100, 61), min_long_side=0, max_side=2048) == (96, 64)
    assert work_size((50, 100), min_long_side=512, max_side=2048) == (256, 512)
    assert work_size((3000, 1500), min_long_side=512, max_side=2048) == (2048, 1024)

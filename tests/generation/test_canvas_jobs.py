"""Inpaint and outpaint jobs at service level, with the tiny real model on the CPU at 64x64."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from PIL import Image as PILImage

from gallery.models import Image
from gallery.params import GenerationParams
from gallery.services import image_create
from generation import services
from generation.models import GenerationJob
from generation.services import JobInputError, JobRequest, SourceNotFound
from tests.generation.masks import mask_png, noise

pytestmark = pytest.mark.django_db

Status = GenerationJob.Status


@pytest.fixture
def source(alice):
    """A 64x64 picture where every pixel differs from its neighbours: nothing matches by luck."""

    def make(width: int = 64, height: int = 64) -> Image:
        params = GenerationParams(
            prompt="a koi pond at dawn", model_name="tiny-test", width=width, height=height
        )
        return image_create(owner=alice, pixels=noise(width, height), params=params)

    return make


def pixels_of(field) -> np.ndarray:
    with field.open("rb") as handle:
        return np.asarray(PILImage.open(handle).convert("RGB"))


def submit(owner, **fields) -> GenerationJob:
    job, _ = services.job_create(owner=owner, request=JobRequest(steps=4, seed=3, **fields))
    return job


def run(owner, **fields) -> GenerationJob:
    job = submit(owner, **fields)
    services.job_execute(job_id=job.id)
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, job.error
    return job


def outside(shape, box, margin) -> np.ndarray:
    """True where a pixel is farther than ``margin`` from ``box`` (left, top, right, bottom)."""
    keep = np.ones(shape, bool)
    left, top, right, bottom = box
    keep[max(0, top - margin) : bottom + margin, max(0, left - margin) : right + margin] = False
    return keep


def test_an_inpaint_job_repaints_the_mask_and_keeps_every_other_pixel(alice, bob, source):
    # GIVEN alice's picture, WHEN bob inpaints a square of it
    picture = source()
    job = run(bob, mode="inpaint", source_image=picture.id, mask=mask_png(), prompt="a goldfish")
    # THEN the result is a new 64x64 gallery image whose parent is the picture
    result = job.images.get()
    assert (result.width, result.height) == (64, 64) and result.owner == bob
    assert list(result.parents.all()) == [picture]
    assert job.strength == 0.75 and job.mask_blur == 4
    before, after = pixels_of(picture.file), pixels_of(result.file)
    # pixels farther than the mask blur from the mask are the source's, bit for bit
    keep = outside((64, 64), (16, 16, 40, 40), 4)
    assert np.array_equal(after[keep], before[keep])
    # and the masked square was repainted
    assert np.abs(after[20:36, 20:36].astype(int) - before[20:36, 20:36]).mean() > 20
    # The mask is kept with the job and recorded on the image as its edited region.
    edit = result.extra["edit"]
    assert edit["mode"] == "inpaint" and edit["mask"] == job.mask.name
    with job.mask.open("rb") as handle:
        assert PILImage.open(handle).getbbox() == (16, 16, 40, 40)
    assert "Mask blur: 4" in result.infotext and "Mode: Inpaint" in result.infotext


def test_an_outpaint_job_grows_the_canvas_with_the_original_at_its_offset(alice, source):
    picture = source()
    job = run(alice, mode="outpaint", source_image=picture.id, extend={"left": 64, "bottom": 64})
    result = job.images.get()
    assert (job.width, job.height) == (128, 128)
    assert (result.width, result.height) == (128, 128)
    assert list(result.parents.all()) == [picture]
    after, before = pixels_of(result.file), pixels_of(picture.file)
    # The original sits at x 64, y 0; only its strip within the blur of the new area may blend.
    assert np.array_equal(after[0:60, 68:128], before[0:60, 4:64])
    # The new area was painted by the model, not left as the blurred pre-fill.
    assert after[:, :64].std() > 5 and after[64:, :].std() > 5
    assert result.extra["edit"]["extend"] == {"left": 64, "top": 0, "right": 0, "bottom": 64}
    assert job.strength == 0.9


def test_an_outpaint_may_also_repaint_a_masked_part_of_the_original(alice, source):
    picture = source()
    job = run(alice, mode="outpaint", source_image=picture.id, extend={"top": 64}, mask=mask_png())
    with job.mask.open("rb") as handle:
        mask = np.asarray(PILImage.open(handle))
    assert mask.shape == (128, 64)
    assert (mask[:64] == 255).all() and (mask[64 + 16 : 64 + 40, 16:40] == 255).all()
    assert mask[64 + 50, 50] == 0


def test_only_masked_inpaints_a_crop_at_full_resolution_and_pastes_it_back(alice, source, settings):
    settings.SD_DEFAULT_SIZE = 64  # the "model resolution" the crop is enlarged to
    picture = source(128, 128)
    mask = mask_png((128, 128), (56, 56, 72, 72))
    job = run(alice, mode="inpaint", source_image=picture.id, mask=mask, only_masked=True)
    result = job.images.get()
    assert (result.width, result.height) == (128, 128)
    after, before = pixels_of(result.file), pixels_of(picture.file)
    keep = outside((128, 128), (56, 56, 72, 72), 4)
    assert np.array_equal(after[keep], before[keep])
    assert np.abs(after[58:70, 58:70].astype(int) - before[58:70, 58:70]).mean() > 20
    assert result.extra["Inpaint area"] == "Only masked"
    # A full-image inpaint of the same mask renders differently: the crop was enlarged.
    whole = run(alice, mode="inpaint", source_image=picture.id, mask=mask).images.get()
    assert not np.array_equal(pixels_of(whole.file), after)


def test_a_mask_covering_everything_is_img2img(alice, source):
    picture = source()
    job = run(alice, mode="inpaint", source_image=picture.id, mask=mask_png(box=(0, 0, 64, 64)))
    result = pixels_of(job.images.get().file)
    assert np.abs(result.astype(int) - pixels_of(picture.file)).mean() > 20


def test_a_mask_of_another_size_but_the_same_aspect_is_resized_with_a_note(alice, source):
    picture = source()
    big = mask_png((128, 128), (32, 32, 80, 80))
    url = "data:image/png;base64," + base64.b64encode(big).decode()
    job = submit(alice, mode="inpaint", source_image=picture.id, mask=url)
    assert job.notes == ["The mask was 128x128; it was resized to 64x64."]
    with job.mask.open("rb") as handle:
        assert PILImage.open(handle).getbbox() == (16, 16, 40, 40)


def test_the_same_mask_as_a_data_url_and_as_png_bytes_is_the_same_request(alice, source):
    picture = source()
    png = mask_png()
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    a = JobRequest(mode="inpaint", source_image=picture.id, mask=png)
    b = JobRequest(mode="inpaint", source_image=picture.id, mask=png)
    c = JobRequest(mode="inpaint", source_image=picture.id, mask=mask_png(box=(0, 0, 8, 8)))
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    job = submit(alice, mode="inpaint", source_image=picture.id, mask=url)
    assert job.mode == "inpaint" and job.mask.name.startswith("masks/")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"mode": "inpaint"}, "needs a mask"),
        ({"mode": "inpaint", "mask": mask_png(box=None)}, "mask is empty"),
        ({"mode": "inpaint", "mask": mask_png((128, 64))}, "aspect ratios differ"),
        ({"mode": "inpaint", "mask": b"GIF89a nonsense"}, "not an image"),
        ({"mode": "inpaint", "mask": "data:image/png;base64,%%%"}, "base64"),
        ({"mode": "inpaint", "mask": mask_png(), "extend": {"left": 64}}, "use mode outpaint"),
        ({"mode": "inpaint", "mask": mask_png(), "mask_blur": 65}, "Mask blur"),
        ({"mode": "outpaint"}, "Outpaint needs extend"),
        ({"mode": "outpaint", "extend": {"left": 32}}, "between 64 and 512"),
        ({"mode": "outpaint", "extend": {"left": 1024}}, "between 64 and 512"),
        ({"mode": "outpaint", "extend": {"left": 512, "right": 512}}, "beyond the size limit"),
        ({"mode": "vary", "mask": mask_png()}, "only used by the inpaint and outpaint"),
    ],
)
def test_a_canvas_request_that_cannot_work_is_refused_with_a_sentence(
    alice, source, settings, fields, message
):
    settings.SD_MAX_SIDE = 1024
    picture = source()
    with pytest.raises(JobInputError, match=message):
        submit(alice, source_image=picture.id, **fields)
    assert GenerationJob.objects.count() == 0


def test_a_canvas_job_on_a_missing_image_is_not_found(alice):
    with pytest.raises(SourceNotFound):
        submit(alice, mode="inpaint", source_image=999_999, mask=mask_png())


def test_an_image_too_large_to_inpaint_whole_may_still_inpaint_only_the_mask(
    alice, source, settings
):
    settings.SD_MAX_SIDE = 96
    picture = source(128, 128)
    mask = mask_png((128, 128), (56, 56, 72, 72))
    with pytest.raises(JobInputError, match="only the masked area"):
        submit(alice, mode="inpaint", source_image=picture.id, mask=mask)
    job = run(alice, mode="inpaint", source_image=picture.id, mask=mask, only_masked=True)
    assert (job.images.get().width, job.images.get().height) == (128, 128)


def test_a_model_with_a_dedicated_inpainting_checkpoint_inpaints_with_it(
    alice, source, settings, tiny_inpaint_model_dir
):
    from generation import pipelines

    picture = source()
    plain = run(alice, mode="inpaint", source_image=picture.id, mask=mask_png()).images.get()
    settings.SD_INPAINT_MODELS = {"tiny-test": str(tiny_inpaint_model_dir)}
    try:
        job = run(alice, mode="inpaint", source_image=picture.id, mask=mask_png())
        assert pipelines.get_inpaint_pipeline("tiny-test").unet.config.in_channels == 9
    finally:
        pipelines.clear_pipeline_cache()
    dedicated = pixels_of(job.images.get().file)
    assert not np.array_equal(dedicated, pixels_of(plain.file))
    keep = outside((64, 64), (16, 16, 40, 40), 4)
    assert np.array_equal(dedicated[keep], pixels_of(picture.file)[keep])


def test_a_source_whose_sides_are_not_multiples_of_8_is_outpainted_exactly(alice, source):
    # Uploads come in any size: the model renders at multiples of 8, the result is resized
    # back, and the original's pixels are still pasted back exactly.
    picture = source(60, 60)
    job = run(alice, mode="outpaint", source_image=picture.id, extend={"right": 64})
    result = job.images.get()
    assert (result.width, result.height) == (124, 60)
    after, before = pixels_of(result.file), pixels_of(picture.file)
    assert np.array_equal(after[:, :56], before[:, :56])


def test_a_request_that_loses_the_idempotency_race_leaves_no_mask_file_behind(
    alice, source, monkeypatch
):
    from django.core.files.storage import default_storage

    from generation.services import submit as submit_module

    picture = source()
    request = JobRequest(mode="inpaint", source_image=picture.id, mask=mask_png(), steps=4)
    first, created = services.job_create(owner=alice, request=request, idempotency_key="k1")
    assert created
    # The second request checks for the key before the first one's row is visible (two
    # requests at once), so it stores its mask and then hits the unique key on insert.
    real = submit_module._idempotent_replay
    calls = []

    def not_yet_visible(*args):
        calls.append(args)
        return None if len(calls) == 1 else real(*args)

    monkeypatch.setattr(submit_module, "_idempotent_replay", not_yet_visible)
    again, created = services.job_create(owner=alice, request=request, idempotency_key="k1")
    assert (again.id, created) == (first.id, False)
    assert default_storage.listdir("masks")[1] == [first.mask.name.removeprefix("masks/")]

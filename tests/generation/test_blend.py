"""Prompt blends: the worker mixes several prompts' text-encoder embeddings by slerp and
renders with them (the tiny real model), and a blend job records its sources."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage

from generation import services
from generation.models import GenerationJob
from generation.pipelines import PipelineInputError, RenderRequest, _encode_prompts, render
from generation.pipelines.blend import embeddings_blend, embeddings_slerp
from generation.services import JobRequest

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FOX = "a red fox in the snow"
OWL = "a blue owl under the moon, by greg rutkowski"


def _request(**fields) -> RenderRequest:
    defaults = {"prompt": FOX, "negative_prompt": "blurry", "steps": 3, "width": 64, "height": 64}
    return RenderRequest(**{"seeds": [7], **defaults, **fields})


def _pixels(pipe, **fields) -> np.ndarray:
    return np.asarray(render(pipe, _request(**fields)).images[0].convert("RGB"), dtype=np.int16)


def _stored_pixels(image) -> np.ndarray:
    """A gallery image's pixels as stored (its PNG metadata, which names the job, left aside)."""
    with image.file.open("rb") as handle:
        return np.asarray(PILImage.open(handle).convert("RGB"))


# --- the interpolation itself ------------------------------------------------------------------


def test_slerp_keeps_the_length_that_an_average_loses():
    import torch

    a = torch.tensor([[[3.0, 0.0]]])
    b = torch.tensor([[[0.0, 3.0]]])
    middle = embeddings_slerp(a, b, 0.5)
    assert torch.allclose(middle, torch.tensor([[[3 / 2**0.5, 3 / 2**0.5]]]), atol=1e-6)
    assert middle.norm().item() == pytest.approx(3.0)
    assert ((a + b) / 2).norm().item() == pytest.approx(2.1213, abs=1e-4)  # what lerp gives


def test_slerp_moves_along_the_arc_and_interpolates_the_length():
    import torch

    a = torch.tensor([[[1.0, 0.0]]])
    b = torch.tensor([[[0.0, 2.0]]])
    third = embeddings_slerp(a, b, 1 / 3)
    angle = torch.atan2(third[0, 0, 1], third[0, 0, 0]).item()
    assert angle == pytest.approx(np.pi / 6)  # a third of the right angle
    assert third.norm().item() == pytest.approx(1 + 1 / 3)
    assert torch.equal(embeddings_slerp(a, b, 0.0), a)
    assert torch.allclose(embeddings_slerp(a, b, 1.0), b)


def test_slerp_of_parallel_tokens_does_not_divide_by_zero():
    import torch

    a = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    mixed = embeddings_slerp(a, 2 * a, 0.5)
    assert torch.isfinite(mixed).all()
    assert torch.allclose(mixed[0, 0], torch.tensor([1.5, 1.5]))


def test_blend_weights_are_shares_and_a_zero_weight_leaves_a_source_out():
    import torch

    a, b, c = (torch.randn(1, 4, 8, generator=torch.Generator().manual_seed(i)) for i in range(3))
    assert torch.equal(embeddings_blend([a, b, c], [0, 2, 0]), b)
    assert torch.allclose(embeddings_blend([a, b], [1, 1]), embeddings_blend([a, b], [5, 5]))
    assert torch.allclose(embeddings_blend([a, b], [3, 1]), embeddings_slerp(a, b, 0.25))
    with pytest.raises(ValueError, match="at least 0"):
        embeddings_blend([a, b], [0, 0])
    with pytest.raises(ValueError, match="shapes"):
        embeddings_slerp(a, torch.zeros(1, 5, 8), 0.5)


# --- on the real (tiny) pipeline ---------------------------------------------------------------


def test_a_blend_with_all_weight_on_one_prompt_renders_that_prompt_exactly(pipe):
    alone = _pixels(pipe, prompt=FOX)
    blended = _pixels(pipe, prompt="label only", blend=[(FOX, 1.0), (OWL, 0.0)])
    assert np.array_equal(alone, blended)


def test_an_even_blend_is_neither_source_and_not_the_average_of_their_embeddings(pipe):
    import torch

    fox, _ = _encode_prompts(pipe, _request(prompt=FOX))
    owl, _ = _encode_prompts(pipe, _request(prompt=OWL))
    mixed, negative = _encode_prompts(pipe, _request(blend=[(FOX, 1.0), (OWL, 1.0)]))
    assert mixed.shape == fox.shape == negative.shape
    assert not torch.allclose(mixed, (fox + owl) / 2, atol=1e-4)
    # Every token sits between its two sources: its length is their mean.
    lengths = mixed.norm(dim=-1)
    assert torch.allclose(lengths, (fox.norm(dim=-1) + owl.norm(dim=-1)) / 2, rtol=1e-4)

    pictures = {
        name: _pixels(pipe, prompt=FOX, blend=blend)
        for name, blend in {
            "fox": None,
            "owl": [(OWL, 1), (FOX, 0)],
            "mix": [(FOX, 1), (OWL, 1)],
        }.items()
    }
    assert not np.array_equal(pictures["mix"], pictures["fox"])
    assert not np.array_equal(pictures["mix"], pictures["owl"])


def test_a_blend_of_prompts_of_different_lengths_is_padded_to_line_up(pipe):
    long = ", ".join(["a red fox in the snow by the sea under the moon"] * 12)  # > 77 tokens
    mixed, negative = _encode_prompts(pipe, _request(blend=[(FOX, 1), (long, 1)]))
    assert mixed.shape == negative.shape
    assert mixed.shape[1] > 77


@pytest.mark.parametrize(
    ("blend", "message"),
    [
        ([(FOX, 1.0)], "at least two"),
        ([(FOX, 0.0), (OWL, 0.0)], "one above 0"),
        ([(FOX, -1.0), (OWL, 1.0)], "at least 0"),
        ([(FOX, 1.0), (None, 1.0)], "must be text"),
    ],
)
def test_a_blend_that_cannot_be_rendered_is_refused_clearly(pipe, blend, message):
    with pytest.raises(PipelineInputError, match=message):
        render(pipe, _request(blend=blend))


# --- as a job ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_blend_job_renders_the_mix_and_records_its_sources_as_parents(alice, bob, make_image):
    fox = make_image(prompt=FOX)
    owl = make_image(prompt=OWL)
    remix = {
        "sources": [fox.id, owl.id],
        "strategy": "blend",
        "phrases": [{"text": FOX, "source": fox.id}, {"text": "a blue owl", "source": owl.id}],
        "blend": [{"prompt": FOX, "weight": 1.5}, {"prompt": OWL, "weight": 0.5}],
    }
    job, _ = services.job_create(
        owner=bob, request=JobRequest(prompt=f"{FOX}, {OWL}", steps=2, seed=5, remix=remix)
    )
    assert job.remix["blend"] == [
        {"prompt": FOX, "weight": 0.75},
        {"prompt": OWL, "weight": 0.25},
    ]
    services.job_execute(job_id=job.id)
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.SUCCEEDED, job.error
    image = job.images.get()
    assert sorted(p.id for p in image.parents.all()) == [fox.id, owl.id]
    assert image.extra["Remix"]["blend"] == job.remix["blend"]
    assert image.prompt.text == f"{FOX}, {OWL}"  # the stand-in, searchable

    # The same settings as plain text render something else: the blend reached the UNet.
    plain, _ = services.job_create(
        owner=bob, request=JobRequest(prompt=f"{FOX}, {OWL}", steps=2, seed=5)
    )
    services.job_execute(job_id=plain.id)
    plain.refresh_from_db()
    assert not np.array_equal(_stored_pixels(image), _stored_pixels(plain.images.get()))


@pytest.mark.django_db
def test_a_blend_of_raw_prompts_needs_no_source_images(alice):
    remix = {"strategy": "blend", "blend": [{"prompt": FOX}, {"prompt": OWL}]}
    job, _ = services.job_create(owner=alice, request=JobRequest(prompt=FOX, remix=remix))
    assert job.remix["sources"] == []
    assert [part["weight"] for part in job.remix["blend"]] == [0.5, 0.5]


@pytest.mark.django_db
def test_the_image_page_shows_each_parents_share_of_the_blend(client, bob, make_image):
    fox, owl = make_image(prompt=FOX), make_image(prompt=OWL)
    remix = {
        "sources": [fox.id, owl.id],
        "strategy": "blend",
        "blend": [{"prompt": FOX, "weight": 1.5}, {"prompt": OWL, "weight": 0.5}],
    }
    job, _ = services.job_create(owner=bob, request=JobRequest(prompt=FOX, steps=1, remix=remix))
    services.job_execute(job_id=job.id)
    page = client.get(f"/images/{job.images.get().id}/").content.decode()
    assert "Blended in at 75%" in page and "Blended in at 25%" in page


@pytest.mark.django_db
def test_regenerating_a_blend_image_renders_the_blend_again_not_its_stand_in_text(bob):
    remix = {"strategy": "blend", "blend": [{"prompt": FOX, "weight": 1}, {"prompt": OWL}]}
    job, _ = services.job_create(
        owner=bob, request=JobRequest(prompt=f"{FOX}, {OWL}", steps=2, seed=9, remix=remix)
    )
    services.job_execute(job_id=job.id)
    original = job.images.get()

    again, _ = services.job_create(
        owner=bob, request=JobRequest(mode="regenerate", source_image=original.id, seed=9)
    )
    assert again.remix["blend"] == job.remix["blend"]
    services.job_execute(job_id=again.id)
    # Same seed, same blend: the same pixels.
    assert np.array_equal(_stored_pixels(original), _stored_pixels(again.images.get()))
    # A prompt of one's own is rendered as written, without the blend.
    edited, _ = services.job_create(
        owner=bob,
        request=JobRequest(mode="regenerate", source_image=original.id, prompt="a green frog"),
    )
    assert edited.remix == {}

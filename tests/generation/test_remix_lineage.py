"""Remix lineage: a job made from a combine records every source as a parent, and which
phrase came from which; the image page and API show it."""

from __future__ import annotations

import pytest

from gallery.models import Image
from gallery.remix import image_parents, image_remixes
from generation import services
from generation.models import GenerationJob
from generation.services import JobInputError, JobRequest

pytestmark = pytest.mark.django_db


def _run(owner, **fields) -> GenerationJob:
    job, _ = services.job_create(owner=owner, request=JobRequest(**fields))
    services.job_execute(job_id=job.id)
    job.refresh_from_db()
    return job


@pytest.fixture
def remixed(alice, bob, make_image):
    """GIVEN two of alice's images WHEN bob generates from their combined prompt."""
    knight = make_image(prompt="a knight in armour, by greg rutkowski, 8k")
    castle = make_image(prompt="a castle on a hill, oil painting")
    remix = {
        "sources": [knight.id, castle.id],
        "strategy": "merge",
        "phrases": [
            {"text": "a knight in armour", "source": knight.id},
            {"text": "a castle on a hill", "source": castle.id},
            {"text": "oil painting", "source": castle.id},
            {"text": "8k", "source": knight.id},
        ],
    }
    job = _run(
        bob,
        prompt="a knight in armour, a castle on a hill, oil painting, (8k:1.3)",
        steps=2,
        batch_size=2,
        remix=remix,
    )
    return knight, castle, job


def test_every_image_of_a_remix_job_has_every_source_as_a_parent(remixed):
    knight, castle, job = remixed
    assert job.status == GenerationJob.Status.SUCCEEDED
    images = list(job.images.all())
    assert len(images) == 2
    for image in images:
        assert sorted(p.id for p in image.parents.all()) == [knight.id, castle.id]
        assert image.extra["Remix"]["strategy"] == "merge"
        assert "Remixed from: " in image.infotext
    assert knight.remixes.count() == 2


def test_the_parents_come_with_a_phrase_diff_and_the_phrases_they_gave(remixed, charlie):
    knight, castle, job = remixed
    child = job.images.first()
    links = {link.image.id: link for link in image_parents(image=child, user=charlie)}
    assert links[knight.id].phrases_given == ["a knight in armour", "8k"]
    assert links[castle.id].phrases_given == ["a castle on a hill", "oil painting"]
    knight_diff = links[knight.id].diff
    assert [p.text for p in knight_diff.removed] == ["by greg rutkowski"]
    assert [p.text for p in knight_diff.added] == ["a castle on a hill", "oil painting"]
    assert [(old.weight, new.weight) for old, new in knight_diff.reweighted] == [(1.0, 1.3)]


def test_remixes_of_an_image_are_listed_most_liked_first(remixed, charlie):
    knight, _, job = remixed
    first, second = job.images.order_by("id")
    Image.objects.filter(id=second.id).update(like_count=5)
    assert [i.id for i in image_remixes(image=knight, user=charlie)] == [second.id, first.id]


def test_the_image_page_shows_remixed_from_with_the_diff_and_remixes_of_this(client, remixed):
    knight, castle, job = remixed
    child = job.images.order_by("id").first()
    html = client.get(f"/images/{child.id}/").content.decode()
    assert "Remixed from" in html
    assert f'href="/images/{knight.id}/"' in html and f'href="/images/{castle.id}/"' in html
    assert '<li class="removed">\u2212 by greg rutkowski</li>' in html
    assert "Gave: a knight in armour, 8k" in html
    parent_html = client.get(f"/images/{knight.id}/").content.decode()
    assert "Remixes of this" in parent_html
    assert f'href="/images/{child.id}/"' in parent_html


def test_the_job_api_shows_the_remix_record(api, remixed, bob):
    knight, castle, job = remixed
    api.force_authenticate(bob)
    body = api.get(f"/api/jobs/{job.id}/").json()
    assert body["remix"]["sources"] == [knight.id, castle.id]
    assert body["remix"]["phrases"][0] == {"text": "a knight in armour", "source": knight.id}


def test_the_image_detail_api_lists_parents_and_remixes(api, remixed):
    knight, castle, job = remixed
    child = job.images.order_by("id").first()
    assert api.get(f"/api/images/{child.id}/").json()["parents"] == [knight.id, castle.id]
    remixes = api.get(f"/api/images/{knight.id}/").json()["remixes"]
    assert sorted(remixes) == sorted(job.images.values_list("id", flat=True))


@pytest.mark.parametrize(
    ("remix", "message"),
    [
        ({"sources": [999999]}, "There is no image 999999."),
        ({"sources": []}, "1 to 5 image ids"),
        ({"sources": ["1"]}, "1 to 5 image ids"),
        ({"sources": "x"}, "1 to 5 image ids"),
        ("x", "must be an object"),
        ({"sources": [1], "strategy": "mash"}, "remix.strategy"),
        ({"sources": [1], "phrases": [3]}, "remix.phrases"),
        ({"sources": [1], "strategy": "blend"}, "A blend needs remix.blend"),
        ({"sources": [1], "blend": [{"prompt": "a"}, {"prompt": "b"}]}, "only used with"),
        ({"strategy": "blend", "blend": [{"prompt": "a"}]}, "2 to 5 prompts"),
        ({"strategy": "blend", "blend": [{"prompt": "a"}, {"prompt": " "}]}, "with a prompt"),
        ({"strategy": "blend", "blend": [{"prompt": "a"}, "b"]}, "with a prompt"),
        ({"strategy": "blend", "blend": [{"prompt": "a", "weight": 3}, {"prompt": "b"}]}, "0 to 2"),
        (
            {"strategy": "blend", "blend": [{"prompt": "a", "weight": "1"}, {"prompt": "b"}]},
            "0 to 2",
        ),
        (
            {
                "strategy": "blend",
                "blend": [{"prompt": "a", "weight": 0}, {"prompt": "b", "weight": 0}],
            },
            "above 0",
        ),
        ({"strategy": "blend", "blend": [{"prompt": "a\x00"}, {"prompt": "b"}]}, "no NUL"),
    ],
)
def test_a_bad_remix_record_is_refused_before_anything_is_queued(alice, make_image, remix, message):
    make_image()  # image 1 may exist or not: only the listed errors matter
    if isinstance(remix, dict) and remix.get("sources") == [1]:
        remix = {**remix, "sources": [Image.objects.first().id]}
    with pytest.raises(JobInputError, match=message):
        services.job_create(owner=alice, request=JobRequest(prompt="a cat", remix=remix))
    assert not GenerationJob.objects.exists()


def test_the_generate_form_sends_the_remix_from_its_hidden_field(client, alice, make_image):
    a, b = make_image(prompt="a fox"), make_image(prompt="watercolor")
    client.force_login(alice)
    response = client.post(
        "/generate/",
        {"prompt": "a fox, watercolor", "remix": f'{{"sources": [{a.id}, {b.id}]}}'},
    )
    assert response.status_code == 302
    job = GenerationJob.objects.get()
    assert job.remix["sources"] == [a.id, b.id]
    bad = client.post("/generate/", {"prompt": "a fox", "remix": "{not json"})
    assert bad.status_code == 400
    assert "remix is not valid JSON." in bad.content.decode()

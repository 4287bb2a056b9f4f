"""Shared fixtures: personas, a tiny real SD model, isolated media, an in-memory broker."""

from __future__ import annotations

import os
import subprocess

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pathlib import Path

import pytest
from PIL import Image as PILImage

from config.celery import app as celery_app

# Unit tests never talk to a real broker; the end-to-end tests start their own processes.
celery_app.conf.broker_url = "memory://"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly-initialised SD pipeline, built once per run by the project's own code."""
    from generation.testmodel import build_test_model

    return build_test_model(tmp_path_factory.mktemp("models") / "tiny-sd")


@pytest.fixture(scope="session")
def tiny_inpaint_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model's dedicated inpainting sibling (9-channel UNet), built once per run."""
    from generation.testmodel import build_test_inpaint_model

    return build_test_inpaint_model(tmp_path_factory.mktemp("models") / "tiny-sd-inpainting")


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path: Path, tiny_model_dir: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    # Real hashing costs ~0.4 s a user; the hasher is Django's business, not ours.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SD_MODELS = {"tiny-test": str(tiny_model_dir)}
    settings.SD_DEFAULT_MODEL = "tiny-test"
    settings.SD_INPAINT_MODELS = {}
    settings.SD_DEFAULT_SIZE = 64
    settings.SD_DEFAULT_STEPS = 4


@pytest.fixture(autouse=True)
def _search_side_connection_closed():
    """A PostgreSQL search outside a transaction opens a second connection on the keyword
    side's thread (`gallery.search`): close it after the test, as the test database must be
    droppable at the end of the run."""
    yield
    from gallery.search import keyword_side

    keyword_side.connection_close()


@pytest.fixture
def postgres_only():
    """Skip the test unless the suite runs on PostgreSQL (pgvector, two connections, TOAST)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")


@pytest.fixture
def alice(django_user_model):
    """The owner in most stories."""
    return django_user_model.objects.create_user("alice", password="alice-password-1")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="bob-password-1")


@pytest.fixture
def charlie(django_user_model):
    """The stranger: must never see or touch what is not his."""
    return django_user_model.objects.create_user("charlie", password="charlie-password-1")


def pixels(width: int = 64, height: int = 64, color: tuple[int, int, int] = (200, 60, 30)):
    """A plain test picture."""
    return PILImage.new("RGB", (width, height), color)


@pytest.fixture
def make_image(alice):
    """Store a gallery image through the real service (files and thumbnails included)."""
    from gallery.params import GenerationParams
    from gallery.services import image_create

    def make(owner=None, prompt: str = "a red fox in the snow", **kwargs):
        width = kwargs.pop("width", 64)
        height = kwargs.pop("height", 64)
        params = GenerationParams(
            prompt=prompt,
            negative_prompt=kwargs.pop("negative_prompt", ""),
            model_name=kwargs.pop("model_name", "tiny-test"),
            scheduler=kwargs.pop("scheduler", "Euler a"),
            steps=kwargs.pop("steps", 20),
            cfg_scale=kwargs.pop("cfg_scale", 7.0),
            seed=kwargs.pop("seed", 42),
            width=width,
            height=height,
        )
        image = image_create(
            owner=owner or alice, pixels=pixels(width, height), params=params, **kwargs
        )
        return image

    return make


@pytest.fixture
def api():
    """An anonymous API client; ``api.force_authenticate(user)`` signs in."""
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture(scope="session")
def embedder():
    """The real MiniLM sentence embedder, loaded once per run (~5 s of imports)."""
    from prompts.embeddings import _embedder

    return _embedder()


@pytest.fixture
def index_prompts(embedder):
    """Embed every prompt still missing a vector, as the worker would after commit."""
    from prompts.services import prompt_embeddings_backfill

    return prompt_embeddings_backfill


@pytest.fixture
def make_job(alice):
    """A job row as the API would have made it (nothing is queued or run)."""
    from generation.models import GenerationJob

    def make(owner=None, **fields) -> GenerationJob:
        values = {
            "prompt": "a fox",
            "model_name": "tiny-test",
            "scheduler": "Euler a",
            "steps": 10,
            "cfg_scale": 7.0,
            "width": 64,
            "height": 64,
            "seed": 1,
            **fields,
        }
        return GenerationJob.objects.create(owner=owner or alice, **values)

    return make


@pytest.fixture
def grown_up():
    """Make an account old enough for mature images and save its NSFW preference."""
    import datetime as dt

    from django.utils import timezone

    from gallery.models import Profile
    from gallery.social.services import profile_update

    def grow(user, mature: str = Profile.Mature.SHOW):
        old = timezone.now() - dt.timedelta(days=30)
        type(user).objects.filter(pk=user.pk).update(date_joined=old)
        user.refresh_from_db()
        profile_update(user=user, changes={"mature": mature})
        return user

    return grow


@pytest.fixture
def full_media(settings, tmp_path):
    """MEDIA_ROOT on a real 1 MB tmpfs, filled to the last byte; yields (folder, filler).

    Mounting needs root (CI has it); elsewhere the test is skipped."""
    media = tmp_path / "full-media"
    media.mkdir()
    mounted = (
        os.geteuid() == 0
        and not subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(media)], capture_output=True
        ).returncode
    )
    if not mounted:
        pytest.skip("mounting a small tmpfs needs root")
    settings.MEDIA_ROOT = media
    filler = media / "filler.bin"
    try:
        with filler.open("wb") as handle:
            while True:
                handle.write(b"\0" * 4096)
                handle.flush()
    except OSError:
        pass  # the disk is full
    yield media, filler
    subprocess.run(["umount", "-l", str(media)], check=False)

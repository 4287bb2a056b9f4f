"""The demo gallery renders through the real job path, and loading it twice adds nothing."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from gallery.models import Image
from generation.models import GenerationJob

pytestmark = pytest.mark.django_db


def test_the_demo_loads_once_with_varied_prompts_users_and_lineage():
    call_command("load_demo", count=4, steps=2)
    images = list(Image.objects.select_related("prompt", "owner"))
    assert len(images) == 4 + 1  # one variation of the first demo image (the others need more)
    assert len({image.prompt.text for image in images}) >= 4
    assert len({image.owner.username for image in images}) >= 2
    assert all(
        image.source == Image.Source.GENERATED and image.seed is not None for image in images
    )
    assert any(image.parents.exists() for image in images)
    assert GenerationJob.objects.filter(status="succeeded").count() == 5

    call_command("load_demo", count=4, steps=2)
    assert Image.objects.count() == 5

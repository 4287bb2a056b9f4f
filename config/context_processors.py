"""Template context shared by every page."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict:
    """The site's name and whether the configured default model is the offline test model."""
    return {
        "SITE_NAME": settings.SITE_NAME,
        "USING_TEST_MODEL": settings.SD_DEFAULT_MODEL == settings.SD_TEST_MODEL_NAME,
    }

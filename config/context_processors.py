"""Template context shared by every page."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from gallery.models import Profile
from gallery.selectors import viewer_mature


def site(request: HttpRequest) -> dict:
    """The site's name, whether the default model is the offline test model, and whether this
    viewer's suggestive/explicit/unrated images are blurred (read only if a page asks)."""
    return {
        "MATURE_BLUR": SimpleLazyObject(
            lambda: viewer_mature(user=getattr(request, "user", None)) == Profile.Mature.BLUR
        ),
        "SITE_NAME": settings.SITE_NAME,
        "USING_TEST_MODEL": settings.SD_DEFAULT_MODEL == settings.SD_TEST_MODEL_NAME,
    }

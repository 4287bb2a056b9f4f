"""URL map: HTML pages, the API under /api/, the schema and docs, media in development."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from config import health
from config.api import api_not_found
from config.metrics import metrics_view
from gallery.api import ImageViewSet, PromptViewSet, SearchView
from gallery.remix_api import CombineView, EnhanceView
from gallery.social.api import CollectionViewSet, TokenView
from gallery.views import LoginView
from generation.api import JobViewSet
from prompts.api import ExpandView, ParseView

router = DefaultRouter()
router.register("images", ImageViewSet, basename="image")
router.register("prompts", PromptViewSet, basename="prompt")
router.register("jobs", JobViewSet, basename="job")
router.register("collections", CollectionViewSet, basename="collection")

urlpatterns = [
    path("health/", health.health, name="health"),
    path("ready/", health.ready, name="ready"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/auth/token/", TokenView.as_view(), name="api-token"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("api/search/", SearchView.as_view(), name="api-search"),
    # Before the router, whose prompts/<pk>/ would read "parse" as a primary key.
    path("api/prompts/parse/", ParseView.as_view(), name="api-prompt-parse"),
    path("api/prompts/combine/", CombineView.as_view(), name="api-prompt-combine"),
    path("api/prompts/enhance/", EnhanceView.as_view(), name="api-prompt-enhance"),
    path("api/prompts/expand/", ExpandView.as_view(), name="api-prompt-expand"),
    path("api/uploads/", include("gallery.uploads.urls")),
    path("api/", include("gallery.social.urls")),
    path("api/", include(router.urls)),
    re_path(r"^api/", api_not_found),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("generation.urls")),
    path("", include("gallery.urls")),
    path("", include("gallery.social.page_urls")),
]

handler500 = "config.errors.server_error"

if settings.SERVE_MEDIA:
    # Local-disk media for the embedded default; production puts a web server or object store
    # in front of MEDIA_ROOT instead.
    urlpatterns += [
        # MEDIA_ROOT is read per request, so tests that move it (and their live servers) work.
        re_path(
            r"^media/(?P<path>.*)$",
            lambda request, path: serve(request, path, document_root=settings.MEDIA_ROOT),
        ),
    ]

"""API routes of uploads, mounted at ``/api/uploads/`` by ``config.urls``."""

from django.urls import path

from gallery.uploads import api

urlpatterns = [
    path("", api.UploadListCreateApi.as_view(), name="upload-list"),
    path("<int:upload_id>/", api.UploadDetailApi.as_view(), name="upload-detail"),
    path("<int:upload_id>/publish/", api.UploadPublishApi.as_view(), name="upload-publish"),
]

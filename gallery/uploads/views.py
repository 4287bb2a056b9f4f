"""HTML side of uploads: the upload page, and an owner-only preview of a draft."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render

from gallery.uploads.selectors import upload_get


@login_required
def upload_page(request: HttpRequest) -> HttpResponse:
    """Drag and drop files; each becomes an editable draft (static/uploads.js drives the API)."""
    return render(
        request,
        "gallery/upload.html",
        {"max_upload_mb": settings.MAX_UPLOAD_BYTES // (1024 * 1024)},
    )


@login_required
def upload_preview(request: HttpRequest, upload_id: int) -> HttpResponse:
    """A draft's WebP preview, for its owner only (drafts are not public)."""
    upload = upload_get(upload_id=upload_id, user=request.user)
    if not upload.preview.name:
        return HttpResponse(status=404)
    response = FileResponse(upload.preview.open("rb"), content_type="image/webp")
    response["Cache-Control"] = "private, max-age=3600"
    return response

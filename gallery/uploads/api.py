"""Uploads API: ``POST /api/uploads/``, ``GET|PATCH|DELETE /api/uploads/{id}/``, ``.../publish/``.

Views stay thin: check the request's declared size before the body is read, validate, make one
service call, serialize. A refused file answers with ``{"detail": sentence}`` and the status the
service chose (400, 409 for an exact duplicate with a link to it, 413 for too large).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gallery.models import Image, Upload
from gallery.serializers import ImageSerializer, _absolute
from gallery.uploads import services
from gallery.uploads.metadata import INT_RANGES, MAX_EXTRA_VALUE, TEXT_LIMITS
from gallery.uploads.safety import UploadRefused
from gallery.uploads.selectors import upload_get, upload_reproducibility, uploads_of
from prompts.text import MAX_PROMPT_CHARS

# Multipart framing around the file: boundaries, headers, the field name.
_MULTIPART_SLACK = 64 * 1024


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "This file is too large."


def _refused(exc: UploadRefused) -> Response:
    return Response({"detail": exc.message, **(exc.existing or {})}, status=exc.status)


class MetadataSerializer(serializers.Serializer):
    """The fields read from the file (and edited by the owner), as the API contract names them."""

    generator = serializers.CharField(read_only=True)
    prompt = serializers.CharField(max_length=MAX_PROMPT_CHARS, allow_blank=True, required=False)
    negative_prompt = serializers.CharField(
        max_length=MAX_PROMPT_CHARS, allow_blank=True, required=False
    )
    model = serializers.CharField(max_length=TEXT_LIMITS["model"], allow_blank=True, required=False)
    model_hash = serializers.CharField(
        max_length=TEXT_LIMITS["model_hash"], allow_blank=True, required=False
    )
    scheduler = serializers.CharField(
        max_length=TEXT_LIMITS["scheduler"], allow_blank=True, required=False
    )
    steps = serializers.IntegerField(
        min_value=INT_RANGES["steps"][0], max_value=INT_RANGES["steps"][1], allow_null=True
    )
    cfg_scale = serializers.FloatField(min_value=0, max_value=100, allow_null=True)
    seed = serializers.IntegerField(min_value=0, max_value=INT_RANGES["seed"][1], allow_null=True)
    width = serializers.IntegerField(min_value=1, max_value=65535, allow_null=True)
    height = serializers.IntegerField(min_value=1, max_value=65535, allow_null=True)
    clip_skip = serializers.IntegerField(min_value=1, max_value=100, allow_null=True)
    extra = serializers.DictField(
        child=serializers.CharField(max_length=MAX_EXTRA_VALUE, allow_blank=True), required=False
    )


class UploadUpdateSerializer(MetadataSerializer):
    """A PATCH body: any metadata field, plus the rating to publish under."""

    rating = serializers.ChoiceField(
        choices=[c for c in Image.Rating.choices if c[0] != Image.Rating.UNRATED], required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class UploadSerializer(serializers.Serializer):
    """A draft (or a published upload) as the uploader sees it."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Upload.Status.choices)
    metadata = MetadataSerializer()
    reproducibility = serializers.ChoiceField(choices=["reproducible", "partial", "no"])
    reproducibility_detail = serializers.DictField(
        help_text="known and missing fields, scheduler_supported, model_available"
    )
    near_duplicates = serializers.ListField(child=serializers.DictField())
    rating = serializers.ChoiceField(choices=Image.Rating.choices)
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    original_format = serializers.CharField()
    preview_url = serializers.URLField(allow_null=True)
    raw_metadata = serializers.DictField(
        child=serializers.CharField(), help_text="The file's text chunks, like A1111's PNG Info."
    )
    image = ImageSerializer(allow_null=True, help_text="The gallery image, once published.")
    created = serializers.DateTimeField()

    def to_representation(self, upload: Upload) -> dict[str, Any]:
        request = self.context.get("request")
        assessment = upload_reproducibility(upload=upload)
        verdict = assessment.pop("verdict")
        preview = None
        if upload.preview.name:
            preview = _absolute(request, f"/uploads/{upload.id}/preview/")
        image = None
        if upload.image_id is not None:
            image = ImageSerializer(upload.image, context=self.context).data
        return {
            "id": upload.id,
            "status": upload.status,
            "metadata": upload.metadata,
            "reproducibility": verdict,
            "reproducibility_detail": assessment,
            "near_duplicates": [
                {**entry, "page_url": _absolute(request, entry["page_url"])}
                if "page_url" in entry
                else entry
                for entry in upload.near_duplicates
            ],
            "rating": upload.rating,
            "width": upload.width,
            "height": upload.height,
            "original_format": upload.original_format,
            "preview_url": preview,
            "raw_metadata": upload.raw_chunks,
            "image": image,
            "created": upload.created.isoformat().replace("+00:00", "Z"),
        }


class UploadFileSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A PNG, JPEG or WebP image.")


class UploadListCreateApi(APIView):
    """Your drafts; and upload a file to make a new one."""

    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Before authentication: a session's CSRF check would read (and spool) the body.
        declared = request.META.get("CONTENT_LENGTH") or "0"
        limit = settings.MAX_UPLOAD_BYTES + _MULTIPART_SLACK
        if request.method == "POST" and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(services.upload_too_large().message)
        super().initial(request, *args, **kwargs)

    @extend_schema(responses=UploadSerializer(many=True))
    def get(self, request: Request) -> Response:
        drafts = uploads_of(user=request.user).filter(status=Upload.Status.DRAFT)[:100]
        return Response(UploadSerializer(drafts, many=True, context={"request": request}).data)

    @extend_schema(
        request={"multipart/form-data": UploadFileSerializer}, responses=UploadSerializer
    )
    def post(self, request: Request) -> Response:
        upload_file = request.FILES.get("file")
        if upload_file is None:
            return Response(
                {"detail": 'Send the image as the multipart field "file".'},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if upload_file.size > settings.MAX_UPLOAD_BYTES:
            return _refused(services.upload_too_large())
        try:
            upload = services.upload_create(
                owner=request.user, data=upload_file.read(settings.MAX_UPLOAD_BYTES + 1)
            )
        except UploadRefused as exc:
            return _refused(exc)
        data = UploadSerializer(upload, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)


class UploadDetailApi(APIView):
    """One of your uploads: read it, edit the draft's fields and rating, or throw it away."""

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(responses=UploadSerializer)
    def get(self, request: Request, upload_id: int) -> Response:
        upload = upload_get(upload_id=upload_id, user=request.user)
        return Response(UploadSerializer(upload, context={"request": request}).data)

    @extend_schema(request=UploadUpdateSerializer, responses=UploadSerializer)
    def patch(self, request: Request, upload_id: int) -> Response:
        upload = upload_get(upload_id=upload_id, user=request.user)
        body = UploadUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            upload = services.upload_update(upload=upload, changes=dict(body.validated_data))
        except UploadRefused as exc:
            return _refused(exc)
        return Response(UploadSerializer(upload, context={"request": request}).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, upload_id: int) -> Response:
        upload = upload_get(upload_id=upload_id, user=request.user)
        try:
            services.upload_delete(upload=upload)
        except UploadRefused as exc:
            return _refused(exc)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UploadPublishApi(APIView):
    """Publish a draft as a gallery image, with its (edited) parameters and rating."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=UploadSerializer)
    def post(self, request: Request, upload_id: int) -> Response:
        upload = upload_get(upload_id=upload_id, user=request.user)
        try:
            services.upload_publish(upload=upload)
        except UploadRefused as exc:
            return _refused(exc)
        upload.refresh_from_db()
        data = UploadSerializer(upload, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)

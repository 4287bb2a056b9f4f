"""API representations of generation jobs."""

from __future__ import annotations

import json
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from gallery.serializers import ImageSerializer
from generation.canvas import MAX_MASK_BLUR, MAX_MASK_BYTES
from generation.models import GenerationJob
from generation.selectors import job_queue_position
from generation.services import MAX_BATCH, MAX_CFG, MAX_SEED, MAX_STEPS, RATINGS, JobRequest
from prompts.text import MAX_PROMPT_CHARS
from prompts.wildcards import MAX_EXPANSIONS, MODES


@extend_schema_field(OpenApiTypes.BINARY)
class MaskField(serializers.Field):
    """A mask as a multipart PNG upload or a ``data:image/png;base64,...`` string: the bytes or
    the string go to the service, which decodes and checks them against the source."""

    default_error_messages = {
        "type": "The mask must be a PNG file upload or a data:image/png;base64,... string.",
        "size": f"The mask is larger than {MAX_MASK_BYTES // (1024 * 1024)} MB.",
    }

    def to_internal_value(self, data: Any) -> bytes | str:
        if isinstance(data, UploadedFile):
            if data.size is not None and data.size > MAX_MASK_BYTES:
                self.fail("size")
            return data.read()
        if isinstance(data, str):
            if len(data) > MAX_MASK_BYTES * 4 // 3 + 100:
                self.fail("size")
            return data
        self.fail("type")

    def to_representation(self, value: Any) -> Any:
        return None


@extend_schema_field(
    {
        "type": "object",
        "properties": {side: {"type": "integer"} for side in ("left", "top", "right", "bottom")},
    }
)
class ExtendField(serializers.Field):
    """``{"left", "top", "right", "bottom"}`` in pixels: an object in JSON, a JSON string in a
    multipart form. The service checks the amounts."""

    default_error_messages = {
        "type": 'extend must be an object like {{"left": 0, "top": 0, "right": 128, "bottom": 0}}.'
    }

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, str):
            try:
                data = json.loads(data) if data.strip() else {}
            except json.JSONDecodeError:
                self.fail("type")
        if not isinstance(data, dict):
            self.fail("type")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class JobInputSerializer(serializers.Serializer):
    """The body of ``POST /api/jobs/`` (and of the generate form). Everything but the prompt
    (or, for regenerate/vary/upscale, the source image) has a default."""

    mode = serializers.ChoiceField(choices=GenerationJob.Mode.choices, default="txt2img")
    prompt = serializers.CharField(
        required=False, allow_blank=True, max_length=MAX_PROMPT_CHARS, trim_whitespace=True
    )
    negative_prompt = serializers.CharField(
        required=False, allow_blank=True, max_length=MAX_PROMPT_CHARS, trim_whitespace=True
    )
    model = serializers.CharField(required=False, allow_blank=True, max_length=200)
    scheduler = serializers.CharField(required=False, allow_blank=True, max_length=64)
    steps = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_STEPS
    )
    cfg_scale = serializers.FloatField(
        required=False, allow_null=True, min_value=0, max_value=MAX_CFG
    )
    width = serializers.IntegerField(required=False, allow_null=True, min_value=8, max_value=8192)
    height = serializers.IntegerField(required=False, allow_null=True, min_value=8, max_value=8192)
    seed = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=-1,
        max_value=MAX_SEED,
        help_text="Blank or -1 for a random seed (always recorded).",
    )
    batch_size = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_BATCH
    )
    source_image = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    strength = serializers.FloatField(
        required=False, allow_null=True, min_value=0.01, max_value=1.0
    )
    clip_skip = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=12)
    rating = serializers.ChoiceField(choices=RATINGS, required=False)
    mask = MaskField(
        required=False,
        help_text="Inpaint/outpaint: white = repaint. A PNG upload (multipart) or a data: URL.",
    )
    extend = ExtendField(required=False, help_text="Outpaint: pixels to add per side, 64-512.")
    mask_blur = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=MAX_MASK_BLUR
    )
    only_masked = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Inpaint a crop around the mask at the model's resolution, then paste back.",
    )
    remix = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text='From the remix tray: {"sources": [image ids], "strategy", "phrases": '
        '[{"text", "source"}]}. The images get every source as a parent. A blend adds '
        '"blend": [{"prompt", "weight"}] (as POST /api/prompts/combine/ answers it): the worker '
        "mixes those prompts' text-encoder embeddings and the prompt is only recorded.",
    )

    def validate_remix(self, value: Any) -> Any:
        # The HTML form sends the object as a JSON string in a hidden field.
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                return json.loads(value)
            except ValueError:
                raise serializers.ValidationError("remix is not valid JSON.") from None
        return value

    #: Fields a subclass adds that are not the job's own (see `BatchInputSerializer`).
    not_job_fields: tuple[str, ...] = ()

    def to_job_request(self) -> JobRequest:
        data = {
            k: (None if v == "" else v)
            for k, v in self.validated_data.items()
            if k not in self.not_job_fields
        }
        return JobRequest(**data)


class BatchInputSerializer(JobInputSerializer):
    """A job whose prompt is a wildcard template: one job per expanded prompt, one batch."""

    wildcards = serializers.ChoiceField(
        choices=MODES,
        default="combinatorial",
        help_text="combinatorial: every combination; random: count draws with the seed; "
        "matrix: A1111's prompt matrix (base|option|option).",
    )
    count = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_EXPANSIONS,
        help_text=f"How many prompts at most (all, up to {MAX_EXPANSIONS}, when left out).",
    )

    not_job_fields = ("wildcards", "count")


class JobSerializer(serializers.ModelSerializer):
    """A job as its owner follows it: status, progress, a preview, then the images."""

    model = serializers.CharField(source="model_name")
    images = ImageSerializer(many=True, read_only=True)
    source_image = serializers.PrimaryKeyRelatedField(read_only=True)
    mask_url = serializers.SerializerMethodField()
    queue_position = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()

    class Meta:
        model = GenerationJob
        fields = [
            "id",
            "mode",
            "status",
            "progress",
            "error",
            "preview",
            "queue_position",
            "prompt",
            "negative_prompt",
            "model",
            "scheduler",
            "steps",
            "cfg_scale",
            "width",
            "height",
            "seed",
            "batch_size",
            "strength",
            "clip_skip",
            "rating",
            "source_image",
            "mask_url",
            "extend",
            "mask_blur",
            "only_masked",
            "notes",
            "remix",
            "batch",
            "attempts",
            "timings",
            "images",
            "created",
            "started",
            "finished",
            "page_url",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_queue_position(self, job: GenerationJob) -> int | None:
        if not self.context.get("with_position"):
            return None
        return job_queue_position(job=job)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_mask_url(self, job: GenerationJob) -> str | None:
        if not job.mask:
            return None
        request = self.context.get("request")
        return request.build_absolute_uri(job.mask.url) if request else job.mask.url

    def get_page_url(self, job: GenerationJob) -> str:
        request = self.context.get("request")
        path = f"/jobs/{job.id}/"
        return request.build_absolute_uri(path) if request else path

"""Prompt tools API over gallery images: combine (and enhance)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import JsonActionMixin, StrictCharField, validated_input
from gallery.enhance import MAX_IDEA_CHARS, EnhanceError, example_images, idea_enhance
from gallery.remix import images_combine
from gallery.serializers import _absolute, _storage_url
from prompts.remix import MAX_SOURCE_WEIGHT, MAX_SOURCES, STRATEGIES, CombineError
from prompts.text import MAX_PROMPT_CHARS

MAX_IMAGE_ID = 2**63 - 1


@extend_schema_field(
    {
        "oneOf": [
            {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_IMAGE_ID,
                "description": "An image id.",
            },
            {
                "type": "object",
                "properties": {
                    "prompt": {"type": "string"},
                    "negative_prompt": {"type": "string"},
                },
                "required": ["prompt"],
            },
        ]
    }
)
class _SourceField(serializers.Field):
    """An image id, or ``{"prompt", "negative_prompt"}``."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool):
            raise ValidationError("A source is an image id or an object with a prompt.")
        if isinstance(data, str) and data.isdigit():
            data = int(data)
        if isinstance(data, int):
            # Beyond a 64-bit id no image can exist (and the database could not even compare).
            if not 1 <= data <= MAX_IMAGE_ID:
                raise ValidationError(f"There is no image {data}.")
            return data
        if isinstance(data, dict):
            prompt = data.get("prompt")
            negative = data.get("negative_prompt", "")
            if not isinstance(prompt, str) or not isinstance(negative, str):
                raise ValidationError("prompt and negative_prompt must be strings.")
            if len(prompt) > MAX_PROMPT_CHARS or len(negative) > MAX_PROMPT_CHARS:
                raise ValidationError(f"A prompt is at most {MAX_PROMPT_CHARS} characters.")
            return {"prompt": prompt, "negative_prompt": negative}
        raise ValidationError("A source is an image id or an object with a prompt.")

    def to_representation(self, value: Any) -> Any:
        return value


class CombineView(JsonActionMixin, APIView):
    """``POST /api/prompts/combine/``: one prompt from 2-5 images or prompts.

    Every phrase of the result says which source it came from: the image id for an image
    source, the position in ``sources`` for a text source.
    """

    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="CombineInput")
    class InputSerializer(serializers.Serializer):
        sources = serializers.ListField(child=_SourceField(), min_length=2, max_length=MAX_SOURCES)
        strategy = serializers.ChoiceField(choices=STRATEGIES, default="merge")
        weights = serializers.ListField(
            child=serializers.FloatField(min_value=0, max_value=MAX_SOURCE_WEIGHT),
            required=False,
            allow_null=True,
        )
        token_budget = serializers.IntegerField(
            required=False, min_value=1, max_value=75 * 8, help_text="Estimated CLIP tokens."
        )

    @extend_schema_serializer(component_name="CombineOutput")
    class OutputSerializer(serializers.Serializer):
        prompt = serializers.CharField()
        negative_prompt = serializers.CharField()
        phrases = serializers.ListField(child=serializers.DictField())
        negative_phrases = serializers.ListField(child=serializers.DictField())
        dropped = serializers.ListField(child=serializers.DictField())
        tokens = serializers.IntegerField()
        sources = serializers.ListField(child=serializers.JSONField())
        blend = serializers.ListField(
            child=serializers.DictField(),
            help_text='The blend strategy only: [{"prompt", "weight", "source"}], the prompts '
            "whose text-encoder embeddings the worker mixes and their shares (summing to 1). "
            "Send it to POST /api/jobs/ as remix.blend; empty for the other strategies.",
        )

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request: Request) -> Response:
        data = validated_input(self.InputSerializer, request)
        try:
            result, resolved = images_combine(
                sources=data["sources"],
                user=request.user,
                strategy=data["strategy"],
                weights=data.get("weights"),
                token_budget=data.get("token_budget"),
            )
        except CombineError as exc:
            raise ValidationError(str(exc)) from None
        labels = [source.label for source in resolved]

        def rows(phrases: list) -> list[dict[str, Any]]:
            return [
                {
                    "text": p.text,
                    "role": p.role,
                    "weight": round(p.weight, 4),
                    "source": labels[p.source],
                }
                for p in phrases
            ]

        return Response(
            {
                "prompt": result.prompt,
                "negative_prompt": result.negative_prompt,
                "phrases": rows(result.phrases),
                "negative_phrases": rows(result.negative_phrases),
                "dropped": rows(result.dropped),
                "tokens": result.tokens,
                "sources": labels,
                "blend": [
                    {
                        "prompt": part.prompt,
                        "weight": round(part.weight, 4),
                        "source": labels[part.source],
                    }
                    for part in result.blend
                ],
            }
        )


class EnhanceView(JsonActionMixin, APIView):
    """``POST /api/prompts/enhance/``: modifiers for a plain idea, and three enhanced prompts.

    Suggestions are grouped by role, ranked by how often they appear in the gallery prompts
    nearest the idea, weighted by similarity and by those images' likes; each comes with a
    few example images.
    """

    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="EnhanceInput")
    class InputSerializer(serializers.Serializer):
        idea = StrictCharField(max_length=MAX_IDEA_CHARS)

    @extend_schema_serializer(component_name="EnhanceOutput")
    class OutputSerializer(serializers.Serializer):
        suggestions = serializers.DictField(
            child=serializers.ListField(child=serializers.DictField())
        )
        prompts = serializers.ListField(child=serializers.CharField(), min_length=3, max_length=3)

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request: Request) -> Response:
        idea = validated_input(self.InputSerializer, request)["idea"]
        try:
            enhancement = idea_enhance(idea=idea, user=request.user)
        except EnhanceError as exc:
            raise ValidationError(str(exc)) from None
        images = example_images(enhancement=enhancement)
        url = _storage_url()

        def example(image_id: int) -> dict[str, Any]:
            image = images[image_id]
            return {
                "id": image.id,
                "thumbnail_url": _absolute(request, url(image.thumb_small.name)),
                "page_url": _absolute(request, f"/images/{image.id}/"),
            }

        return Response(
            {
                "suggestions": {
                    role: [
                        {
                            "text": s.text,
                            "score": s.score,
                            "uses": s.uses,
                            "examples": [example(i) for i in s.examples if i in images],
                        }
                        for s in group
                    ]
                    for role, group in enhancement.suggestions.items()
                },
                "prompts": enhancement.prompts,
            }
        )

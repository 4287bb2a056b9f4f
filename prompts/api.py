"""Prompts API: the anatomy of a prompt (text only; nothing here reads the gallery)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import JsonActionMixin, StrictCharField, validated_input
from prompts.anatomy import prompt_anatomy
from prompts.roles import ROLES
from prompts.text import MAX_PROMPT_CHARS
from prompts.wildcards import MAX_EXPANSIONS, MODES, WildcardError, prompt_expand


class PhraseSerializer(serializers.Serializer):
    """One phrase of a parsed prompt."""

    text = serializers.CharField()
    weight = serializers.FloatField()
    role = serializers.ChoiceField(choices=[*ROLES, "break", "and"])
    kind = serializers.CharField(help_text="text, lora, embedding, edit, break or and")
    tokens = serializers.IntegerField(help_text="Estimated CLIP tokens (with its comma).")
    chunk = serializers.IntegerField(help_text="The 75-token CLIP chunk it starts in.")


class ParseView(JsonActionMixin, APIView):
    """``POST /api/prompts/parse/``: a prompt's phrases with weight and role, and its tokens."""

    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="ParseInput")
    class InputSerializer(serializers.Serializer):
        prompt = StrictCharField(
            max_length=MAX_PROMPT_CHARS, allow_blank=True, trim_whitespace=False
        )

    @extend_schema_serializer(component_name="ParseOutput")
    class OutputSerializer(serializers.Serializer):
        phrases = PhraseSerializer(many=True)
        params = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
        negative = serializers.ListField(child=serializers.CharField())
        tokens = serializers.IntegerField()
        chunks = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request: Request) -> Response:
        return Response(prompt_anatomy(validated_input(self.InputSerializer, request)["prompt"]))


class ExpandView(JsonActionMixin, APIView):
    """``POST /api/prompts/expand/``: the prompts a wildcard template stands for.

    Submit each as a job (``POST /api/jobs/``), or use the generate form's wildcard option,
    which does that for you.
    """

    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="ExpandInput")
    class InputSerializer(serializers.Serializer):
        prompt = StrictCharField(max_length=MAX_PROMPT_CHARS)
        mode = serializers.ChoiceField(choices=MODES, default="combinatorial")
        count = serializers.IntegerField(
            required=False, allow_null=True, min_value=1, max_value=MAX_EXPANSIONS
        )
        seed = serializers.IntegerField(required=False, allow_null=True, min_value=0)

    @extend_schema_serializer(component_name="ExpandOutput")
    class OutputSerializer(serializers.Serializer):
        prompts = serializers.ListField(child=serializers.CharField())

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request: Request) -> Response:
        data = validated_input(self.InputSerializer, request)
        try:
            prompts = prompt_expand(
                text=data["prompt"],
                mode=data["mode"],
                count=data.get("count"),
                seed=data.get("seed"),
            )
        except WildcardError as exc:
            raise ValidationError(str(exc)) from None
        return Response({"prompts": prompts})

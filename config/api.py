"""API-wide behaviour: one error shape, ``{"detail": "<a sentence>"}``, for every 4xx."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import exception_handler as drf_exception_handler


def _first_message(detail: Any, path: str = "") -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            prefix = path if key == "non_field_errors" else (f"{path}.{key}" if path else key)
            return _first_message(value, prefix)
    if isinstance(detail, list) and detail:
        return _first_message(detail[0], path)
    text = str(detail)
    return f"{path}: {text}" if path else text


def validated_input(serializer_class: type[Serializer], request: Request) -> dict[str, Any]:
    """The request body through an action's ``InputSerializer``, or a 400 with the reason."""
    body = serializer_class(data=request.data)
    body.is_valid(raise_exception=True)
    return body.validated_data


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, then reshape validation errors into ``detail`` plus per-field ``errors``."""
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ValidationError):
        response.data = {"detail": _first_message(exc.detail), "errors": exc.detail}
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {
            "detail": str(response.data["detail"]),
            **{k: v for k, v in response.data.items() if k != "detail"},
        }
    return response


def api_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """A JSON 404 for unknown paths under /api/."""
    return JsonResponse({"detail": "There is nothing at this address."}, status=404)

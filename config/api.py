"""API-wide behaviour: one error shape, ``{"detail": "<a sentence>"}``, for every 4xx."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views.decorators.csrf import csrf_exempt
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser
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


class JsonActionMixin:
    """Actions (parse, combine, enhance, expand) take JSON bodies only, as the contract says:
    a form-encoded body cannot carry their nested values or nulls, so it is a 415."""

    parser_classes = [JSONParser]


class StrictCharField(serializers.CharField):
    """A text field that refuses numbers and booleans instead of turning them into text."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


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
        # ``errors`` is always an object: errors not tied to a field go under non_field_errors.
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = {"detail": _first_message(exc.detail), "errors": errors}
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {
            "detail": str(response.data["detail"]),
            **{k: v for k, v in response.data.items() if k != "detail"},
        }
    return response


@csrf_exempt  # it changes nothing; a POST to a wrong address is a 404, not a CSRF failure
def api_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """A JSON 404 for unknown paths under /api/."""
    return JsonResponse({"detail": "There is nothing at this address."}, status=404)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: JSON under /api/ (a browser session without its CSRF token), else a
    page that tells the person what to do."""
    message = "The form or request was missing its security token. Reload the page and retry."
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=403)
    html = loader.get_template("error_standalone.html").render({"status": 403, "message": message})
    return HttpResponse(html, status=403)

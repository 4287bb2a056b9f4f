"""OpenAPI schema post-processing: the error answers every operation can give, documented.

Every error of the API has one shape (``config.api.exception_handler``): ``{"detail": "<a
sentence>"}``, plus ``errors`` (per field) on a 400. Rather than repeat the same responses on
every view, this hook adds them where they can happen: 400 where the operation takes input,
401 and 403 where it may need a signed-in user, 404 where the path names an object, 429 on
writes (per-user caps and rate limits), and 503 everywhere (the database is unreachable or the
disk is full). Responses a view documents itself are left alone. It also marks the gallery
filters as allowing an empty value (an empty form field filters nothing).
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "detail": {"type": "string", "description": "What went wrong, as a sentence."},
        "errors": {"type": "object", "description": "Per-field messages (400 only)."},
    },
    "required": ["detail"],
}
DESCRIPTIONS = {
    "400": "The request is invalid; `detail` says why.",
    "401": "Authentication is needed, or the credentials are wrong.",
    "403": "Signed in, but not allowed to do this.",
    "404": "No such object, or not one you may see.",
    "405": "This method is not allowed here.",
    "409": "The request conflicts with the object's state.",
    "413": "The body is too large.",
    "415": "The body's media type is not accepted here.",
    "422": "The request cannot be processed as given.",
    "429": "Too many requests or jobs; retry after `Retry-After` seconds.",
    "503": "Temporarily unavailable (database unreachable or storage full); retry later.",
}
WRITES = {"post", "put", "patch", "delete"}


def _statuses(method: str, path: str, operation: dict[str, Any]) -> list[str]:
    statuses = ["401", "403", "405", "503"]
    if operation.get("parameters") or operation.get("requestBody") or method in WRITES:
        statuses.append("400")
    if "{" in path:
        statuses.append("404")
    if method in WRITES:
        statuses += ["409", "413", "415", "422", "429"]
    return statuses


def _empty_filters_mean_no_filter(operation: dict[str, Any]) -> None:
    """``?model=`` (an empty form field) filters nothing, as HTML forms send it, and an empty
    ``?ordering=`` is the default order: say so."""
    from gallery.filters import ImageFilter

    optional = {*ImageFilter.base_filters, "ordering"}
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "query" and parameter.get("name") in optional:
            parameter["allowEmptyValue"] = True


def add_error_responses(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry: see the module docstring."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, item in result.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            _empty_filters_mean_no_filter(operation)
            for status in _statuses(method, path, operation):
                operation["responses"].setdefault(
                    status, {"description": DESCRIPTIONS[status], "content": error}
                )
    return result

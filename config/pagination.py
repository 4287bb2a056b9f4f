"""Keyset ("cursor") pagination over a composite sort key.

DRF's CursorPagination keys on one field and falls back to an OFFSET among equal values, so
"most liked" (thousands of images with the same count) degrades into OFFSET scans. Here every
ordering ends with the primary key, the cursor carries the last row's full key, and page 2,000
costs the same index seek as page 1. Cursors are signed: a tampered one is a 400, not a 500.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import OrderedDict
from typing import Any

from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F, Model, Q, QuerySet

# Row comparisons; Django 5.2 builds composite primary keys on them.
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

_SALT = "atelier.keyset-cursor"


def _after(model: type[Model], fields: tuple[str, ...], values: list[Any], *, reverse: bool) -> Q:
    """Rows strictly after ``values`` in the ``fields`` order (or before it, if ``reverse``).

    When every field sorts the same way (all our orderings do) this is one row comparison,
    ``(created, id) < (x, y)``, which PostgreSQL answers with an index seek; the equivalent
    ``created < x OR (created = x AND id < y)`` makes it walk the index from the top and filter
    (page n reads 50n rows). Mixed directions fall back to that OR chain.
    """
    names = [field.lstrip("-") for field in fields]
    typed = [
        model._meta.get_field(name).to_python(value)
        for name, value in zip(names, values, strict=True)
    ]
    directions = {field.startswith("-") != reverse for field in fields}
    if len(directions) == 1:
        lookup = TupleLessThan if directions.pop() else TupleGreaterThan
        return Q(lookup(Tuple(*(F(name) for name in names)), typed))
    condition = Q()
    for index in range(len(fields) - 1, -1, -1):
        name = names[index]
        descending = fields[index].startswith("-") != reverse
        step = Q(**{f"{name}__{'lt' if descending else 'gt'}": typed[index]})
        if index < len(fields) - 1:
            step |= Q(**{name: typed[index]}) & condition
        condition = step
    return condition


def _flip(field: str) -> str:
    return field[1:] if field.startswith("-") else f"-{field}"


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


class KeysetPagination(BasePagination):
    """Paginates by a named ordering (``?ordering=``) declared on the view.

    The view declares ``keyset_orderings = {"-created": ("-created", "-id"), ...}`` and
    ``default_keyset_ordering``. Responses are ``{"next", "previous", "results"}``.
    """

    page_size = 50
    max_page_size = 100
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    ordering_query_param = "ordering"

    def _page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            raise ValidationError({"page_size": "page_size must be a whole number."}) from None
        return max(1, min(size, self.max_page_size))

    def _ordering(self, request: Request, view: Any) -> tuple[str, tuple[str, ...]]:
        orderings = getattr(view, "keyset_orderings", {"-id": ("-id",)})
        name = request.query_params.get(self.ordering_query_param) or getattr(
            view, "default_keyset_ordering", next(iter(orderings))
        )
        if name not in orderings:
            choices = ", ".join(orderings)
            raise ValidationError({"ordering": f"Unknown ordering {name!r}; use one of {choices}."})
        return name, orderings[name]

    def _decode(self, request: Request, ordering: str, size: int) -> dict | None:
        token = request.query_params.get(self.cursor_query_param)
        if not token:
            return None
        try:
            cursor = signing.loads(token, salt=_SALT)
        except signing.BadSignature:
            raise ValidationError({"cursor": "This cursor is invalid or has expired."}) from None
        if not isinstance(cursor, dict) or cursor.get("o") != ordering:
            raise ValidationError({"cursor": "This cursor belongs to another ordering."})
        if not isinstance(cursor.get("v"), list) or len(cursor["v"]) != size:
            raise ValidationError({"cursor": "This cursor is invalid or has expired."})
        return cursor

    def _encode(self, ordering: str, values: list[Any], *, reverse: bool) -> str:
        payload = {"o": ordering, "v": [_plain(v) for v in values], "r": reverse}
        return signing.dumps(payload, salt=_SALT, compress=False)

    def paginate_queryset(
        self, queryset: QuerySet, request: Request, view: Any = None
    ) -> list[Any]:
        size = self._page_size(request)
        name, fields = self._ordering(request, view)
        cursor = self._decode(request, name, len(fields))
        reverse = bool(cursor and cursor.get("r"))
        order = tuple(_flip(f) for f in fields) if reverse else fields
        queryset = queryset.order_by(*order)
        if cursor is not None:
            try:
                queryset = queryset.filter(
                    _after(queryset.model, fields, cursor["v"], reverse=reverse)
                )
            except (DjangoValidationError, ValueError, TypeError):
                raise ValidationError({"cursor": "This cursor is invalid."}) from None
        rows = list(queryset[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        if reverse:
            rows.reverse()
        self._request = request
        self._next = self._previous = None
        attnames = [f.lstrip("-") for f in fields]

        def key(row: Any) -> list[Any]:
            if isinstance(row, dict):  # a .values() queryset
                return [row[attr] for attr in attnames]
            return [getattr(row, attr) for attr in attnames]

        if rows:
            has_next = more if not reverse else True
            has_previous = (cursor is not None) if not reverse else more
            if has_next:
                self._next = self._encode(name, key(rows[-1]), reverse=False)
            if has_previous:
                self._previous = self._encode(name, key(rows[0]), reverse=True)
        return rows

    def _link(self, token: str | None) -> str | None:
        if token is None:
            return None
        url = self._request.build_absolute_uri()
        return replace_query_param(url, self.cursor_query_param, token)

    def next_link(self) -> str | None:
        """The URL of the next page, or None on the last page."""
        return self._link(self._next)

    def get_paginated_response(self, data: list[Any]) -> Response:
        return Response(
            OrderedDict(
                [
                    ("next", self.next_link()),
                    ("previous", self._link(self._previous)),
                    ("results", data),
                ]
            )
        )

    def first_page_link(self) -> str:
        """The URL of the first page (used by the HTML gallery)."""
        return remove_query_param(self._request.build_absolute_uri(), self.cursor_query_param)

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        orderings = list(getattr(view, "keyset_orderings", {"-id": ("-id",)}))
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "The pagination cursor from a previous response's next/previous.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Results per page (1 to {self.max_page_size}).",
                "schema": {"type": "integer"},
            },
            {
                "name": self.ordering_query_param,
                "required": False,
                "in": "query",
                "description": "Sort order.",
                "schema": {"type": "string", "enum": orderings},
            },
        ]


class RankedListPagination(KeysetPagination):
    """Pages over a list already ranked in memory (search results); the cursor is a signed offset.

    A ranking has no column to seek on, and search lists are capped (a thousand images), so an
    offset costs nothing here. The response shape is `KeysetPagination`'s.
    """

    def _offset(self, request: Request) -> int:
        token = request.query_params.get(self.cursor_query_param)
        if not token:
            return 0
        try:
            cursor = signing.loads(token, salt=_SALT + ".offset")
        except signing.BadSignature:
            raise ValidationError({"cursor": "This cursor is invalid or has expired."}) from None
        offset = cursor.get("n") if isinstance(cursor, dict) else None
        if not isinstance(offset, int) or offset < 0:
            raise ValidationError({"cursor": "This cursor is invalid or has expired."})
        return offset

    def paginate_list(self, items: list[Any], request: Request) -> list[Any]:
        """The page of ``items`` the request's cursor points at."""
        size = self._page_size(request)
        offset = self._offset(request)
        self._request = request
        end = offset + size

        def token(n: int) -> str:
            return signing.dumps({"n": n}, salt=_SALT + ".offset", compress=False)

        self._next = token(end) if end < len(items) else None
        self._previous = token(max(0, offset - size)) if offset > 0 else None
        return items[offset:end]


@functools.cache
def paginated(serializer_class: type) -> Any:
    """The OpenAPI shape of a page of ``serializer_class`` for views that paginate by hand
    (search, feeds): ``{"next", "previous", "results"}`` as `KeysetPagination` answers.

    One component per serializer (cached), named ``<Name>Page`` so that it never collides with
    the ``Paginated<Name>List`` drf-spectacular makes for paginated viewsets."""
    from drf_spectacular.utils import inline_serializer
    from rest_framework import serializers

    base = serializer_class.__name__.removesuffix("Serializer")
    return inline_serializer(
        f"{base}Page",
        {
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer_class(many=True),
        },
    )

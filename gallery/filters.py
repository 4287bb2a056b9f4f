"""Gallery filters shared by the API and the HTML gallery."""

from __future__ import annotations

from collections.abc import Mapping

import django_filters
from django.db.models import F, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from gallery.models import Image


class ImageFilter(django_filters.FilterSet):
    """``?author=``, ``?model=``, ``?aspect=``, ``?source=``, ``?created_after=``."""

    author = django_filters.CharFilter(field_name="owner__username", max_length=150)
    model = django_filters.CharFilter(field_name="model_name", max_length=200)
    aspect = django_filters.ChoiceFilter(
        choices=[("portrait", "portrait"), ("landscape", "landscape"), ("square", "square")],
        method="filter_aspect",
    )
    source = django_filters.ChoiceFilter(choices=Image.Source.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created", lookup_expr="lt")

    class Meta:
        model = Image
        fields: list[str] = []

    def filter_aspect(self, queryset: QuerySet[Image], name: str, value: str) -> QuerySet[Image]:
        if value == "portrait":
            return queryset.filter(height__gt=F("width"))
        if value == "landscape":
            return queryset.filter(width__gt=F("height"))
        return queryset.filter(width=F("height"))


def image_filter_parameters() -> list[OpenApiParameter]:
    """The gallery filters as OpenAPI query parameters (for views that apply `ImageFilter` by
    hand, such as search): enums for choices, date-time for dates."""
    parameters = []
    for name, field in ImageFilter.base_filters.items():
        if isinstance(field, django_filters.IsoDateTimeFilter):
            kind: object = OpenApiTypes.DATETIME
        else:
            kind = OpenApiTypes.STR
        choices = (
            field.extra.get("choices") if isinstance(field, django_filters.ChoiceFilter) else None
        )
        parameters.append(
            OpenApiParameter(name, kind, enum=[value for value, _ in choices] if choices else None)
        )
    return parameters


def image_filters_given(params: Mapping[str, str]) -> bool:
    """Whether a request names any gallery filter: building a FilterSet costs ~1 ms, and the
    plain gallery (most requests) names none."""
    return any(name in params for name in ImageFilter.base_filters)


def image_filters_active(filterset: ImageFilter) -> bool:
    """Whether a validated filterset narrows the gallery (search skips the subquery if not)."""
    return any(value not in (None, "") for value in filterset.form.cleaned_data.values())

"""Gallery API: images and the prompts they use (read-only resources)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.pagination import RankedListPagination
from gallery.filters import ImageFilter, image_filters_active, image_filters_given
from gallery.models import Image
from gallery.search import (
    SEARCH_ORDERINGS,
    SIMILAR_BY,
    image_rows_for_hits,
    images_search,
    images_similar_to,
)
from gallery.selectors import (
    DEFAULT_IMAGE_ORDERING,
    IMAGE_ORDERINGS,
    image_list,
    image_rows,
    images_visible,
)
from gallery.serializers import (
    ImageDetailSerializer,
    ImageSerializer,
    SearchHitSerializer,
    _absolute,
)
from prompts.models import Prompt


class ImageViewSet(viewsets.ReadOnlyModelViewSet):
    """Gallery images, newest first, keyset-paginated; filters as in `ImageFilter`."""

    permission_classes = [AllowAny]
    filterset_class = ImageFilter
    keyset_orderings = IMAGE_ORDERINGS
    default_keyset_ordering = DEFAULT_IMAGE_ORDERING

    def filter_queryset(self, queryset: QuerySet[Image]) -> QuerySet[Image]:
        # Building a FilterSet costs ~1 ms; most requests (the plain gallery) use no filter.
        if not image_filters_given(self.request.query_params):
            return queryset
        return super().filter_queryset(queryset)

    def get_queryset(self) -> QuerySet[Image]:
        if self.action == "list":
            return image_rows(user=self.request.user)
        queryset = image_list(user=self.request.user)
        if self.action == "retrieve":
            queryset = queryset.prefetch_related(
                Prefetch("parents", queryset=Image.objects.only("id")),
                Prefetch("remixes", queryset=Image.objects.only("id")),
            )
        return queryset

    def get_serializer_class(self) -> type[serializers.Serializer]:
        if self.action == "similar":
            return SearchHitSerializer
        return ImageDetailSerializer if self.action == "retrieve" else ImageSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("by", str, enum=list(SIMILAR_BY), description="prompt or style"),
            OpenApiParameter("limit", int, description="At most this many images (1 to 100)."),
        ],
        responses=inline_serializer(
            "SimilarImages",
            {"by": serializers.CharField(), "results": SearchHitSerializer(many=True)},
        ),
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def similar(self, request: Request, pk: str | None = None) -> Response:
        """The nearest images by whole prompt (``by=prompt``) or by style (``by=style``).

        The image itself and the images sharing its exact prompt are left out.
        """
        image = self.get_object()
        by = request.query_params.get("by", "prompt")
        if by not in SIMILAR_BY:
            raise ValidationError({"by": f"Use one of {', '.join(SIMILAR_BY)}."})
        limit = SimilarInput(data=request.query_params)
        limit.is_valid(raise_exception=True)
        hits = images_similar_to(
            image=image,
            images=image_list(user=request.user),
            by=by,
            limit=limit.validated_data["limit"],
        )
        rows = image_rows_for_hits(hits=hits, user=request.user)
        data = SearchHitSerializer(rows, many=True, context={"request": request}).data
        return Response({"by": by, "results": data})


class SimilarInput(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=24)


class PromptImageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    thumbnail_url = serializers.URLField()
    page_url = serializers.URLField()


class PromptSerializer(serializers.ModelSerializer):
    """A distinct prompt pair with the images that use it."""

    negative_prompt = serializers.CharField(source="negative_text")
    prompt = serializers.CharField(source="text")
    image_count = serializers.SerializerMethodField()
    images = serializers.SerializerMethodField()

    class Meta:
        model = Prompt
        fields = ["id", "prompt", "negative_prompt", "created", "image_count", "images"]

    def get_image_count(self, prompt: Prompt) -> int:
        return len(prompt.images.all())

    @extend_schema(responses=PromptImageSerializer(many=True))
    def get_images(self, prompt: Prompt) -> list[dict[str, Any]]:
        request = self.context.get("request")
        return [
            {
                "id": image.id,
                "thumbnail_url": _absolute(request, image.thumb_small.url),
                "page_url": _absolute(request, f"/images/{image.id}/"),
            }
            for image in prompt.images.all()
        ]


class PromptViewSet(viewsets.ReadOnlyModelViewSet):
    """Prompts, newest first, each with the images that use it."""

    permission_classes = [AllowAny]
    serializer_class = PromptSerializer
    keyset_orderings = {"-created": ("-created", "-id")}

    def get_queryset(self) -> QuerySet[Prompt]:
        images = images_visible(user=self.request.user).only(
            "id", "prompt_id", "thumb_small", "created"
        )
        return Prompt.objects.prefetch_related(Prefetch("images", queryset=images))


class SearchView(APIView):
    """``GET /api/search/?q=``: images whose prompts match, literally or in meaning.

    Takes the filters of /api/images/; ``ordering`` is ``relevance`` (default), ``-created`` or
    ``-likes``. Each hit is an image plus ``score`` and ``matched`` (semantic, keyword, both).
    """

    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        q = serializers.CharField(max_length=settings.SEARCH_MAX_QUERY_CHARS)
        ordering = serializers.ChoiceField(choices=SEARCH_ORDERINGS, default="relevance")

    @extend_schema(
        parameters=[
            InputSerializer,
            *(OpenApiParameter(name, str) for name in ImageFilter.base_filters),
            OpenApiParameter("cursor", str, description="From a previous response's next."),
            OpenApiParameter("page_size", int, description="Results per page (1 to 100)."),
        ],
        responses=SearchHitSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        filterset = ImageFilter(request.query_params, queryset=image_list(user=request.user))
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        hits = images_search(
            query=params.validated_data["q"],
            images=filterset.qs,
            filtered=image_filters_active(filterset),
            ordering=params.validated_data["ordering"],
        )
        paginator = RankedListPagination()
        page = paginator.paginate_list(hits, request)
        rows = image_rows_for_hits(hits=page, user=request.user)
        data = SearchHitSerializer(rows, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

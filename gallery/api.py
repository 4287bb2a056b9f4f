"""Gallery API: images and the prompts they use (read-only resources)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticatedOrReadOnly
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.pagination import RankedListPagination, paginated
from gallery.filters import (
    ImageFilter,
    image_filter_parameters,
    image_filters_active,
    image_filters_given,
)
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
from gallery.social.api import liked_by_me
from gallery.social.services import SocialError, image_delete, image_update
from prompts.models import Prompt
from prompts.text import MAX_PROMPT_CHARS


class ImageUpdateInput(serializers.Serializer):
    prompt = serializers.CharField(max_length=MAX_PROMPT_CHARS, required=False)
    negative_prompt = serializers.CharField(
        max_length=MAX_PROMPT_CHARS, required=False, allow_blank=True
    )
    rating = serializers.ChoiceField(choices=Image.Rating.choices, required=False)


class ImageViewSet(
    mixins.UpdateModelMixin, mixins.DestroyModelMixin, viewsets.ReadOnlyModelViewSet
):
    """Gallery images, newest first, keyset-paginated; filters as in `ImageFilter`, plus
    ``?liked_by=me`` and ``?ordering=-likes|trending``. ``PATCH`` (prompt, negative prompt,
    rating) and ``DELETE`` are for the image's owner and staff; others get a 403 (a 404 for an
    image they cannot see)."""

    permission_classes = [IsAuthenticatedOrReadOnly]
    http_method_names = ["get", "patch", "delete", "head", "options"]
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
            return liked_by_me(self.request, image_rows(user=self.request.user))
        queryset = image_list(user=self.request.user)
        if self.action == "retrieve":
            queryset = queryset.prefetch_related(
                Prefetch("parents", queryset=Image.objects.only("id")),
                Prefetch("remixes", queryset=Image.objects.only("id")),
            )
        return queryset

    def _own_object(self) -> Image:
        image = self.get_object()
        if image.owner_id != self.request.user.pk and not self.request.user.is_staff:
            raise PermissionDenied("Only the image's owner can change or delete it.")
        return image

    @extend_schema(request=ImageUpdateInput, responses=ImageDetailSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        image = self._own_object()
        body = ImageUpdateInput(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            image_update(image=image, changes=body.validated_data)
        except SocialError as exc:
            raise ValidationError({"detail": exc.message}) from None
        image = self.get_queryset().get(pk=image.pk)
        return Response(ImageDetailSerializer(image, context={"request": request}).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        image_delete(image=self._own_object())
        return Response(status=204)

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

    Takes the filters of /api/images/; ``ordering`` is ``relevance`` (default), ``-created``,
    ``trending`` or ``-likes``. Each hit is an image plus ``score`` and ``matched`` (semantic,
    keyword, both).
    """

    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        q = serializers.CharField(max_length=settings.SEARCH_MAX_QUERY_CHARS)
        ordering = serializers.ChoiceField(choices=SEARCH_ORDERINGS, default="relevance")

    @extend_schema(
        parameters=[
            InputSerializer,
            *image_filter_parameters(),
            OpenApiParameter("cursor", str, description="From a previous response's next."),
            OpenApiParameter("page_size", int, description="Results per page (1 to 100)."),
        ],
        responses=paginated(SearchHitSerializer),
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

"""Social API: likes, reports, collections, follows, the following feed, and ``/api/me/``.

Each action view validates, makes one service call and serializes. Objects are fetched through
the viewer-scoped selectors: what the viewer may not see is a 404; what they may see but not
change (someone else's public collection) is a 403.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.exceptions import NotAuthenticated, PermissionDenied, ValidationError
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.pagination import KeysetPagination, paginated
from gallery.models import Collection, Image, Profile, Report
from gallery.selectors import (
    DEFAULT_IMAGE_ORDERING,
    IMAGE_ORDERINGS,
    IMAGE_ROW_FIELDS,
    image_get,
    mature_allowed,
    viewer_mature,
)
from gallery.serializers import ImageSerializer, _absolute
from gallery.social import services
from gallery.social.ratelimit import RATE_LIMITED_MESSAGE, login_blocked, login_failed
from gallery.social.selectors import (
    collection_get,
    collection_get_own,
    collection_images,
    collection_list,
    follow_counts,
    follow_exists,
    images_following,
    person_get,
    profile_of,
)
from gallery.uploads.safety import UploadRefused


def _refuse(exc: services.SocialError) -> ValidationError:
    return ValidationError({"detail": exc.message})


class _ImageOrderings:
    keyset_orderings = IMAGE_ORDERINGS
    default_keyset_ordering = DEFAULT_IMAGE_ORDERING


class _NewestFirst:
    keyset_orderings = {"-created": IMAGE_ORDERINGS["-created"]}
    default_keyset_ordering = "-created"


def image_page_response(
    *, request: Request, images: QuerySet[Image], orderings: Any = _ImageOrderings
) -> Response:
    """A keyset page of images as /api/images/ lists them (one query for the rows)."""
    paginator = KeysetPagination()
    rows = paginator.paginate_queryset(images.values(*IMAGE_ROW_FIELDS), request, orderings())
    data = ImageSerializer(rows, many=True, context={"request": request}).data
    return paginator.get_paginated_response(data)


# --- Likes and reports -------------------------------------------------------------------------


class LikeOutput(serializers.Serializer):
    liked = serializers.BooleanField()
    like_count = serializers.IntegerField()


class LikeView(APIView):
    """``POST`` likes an image, ``DELETE`` takes the like back; both are idempotent."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=LikeOutput)
    def post(self, request: Request, image_id: int) -> Response:
        image = image_get(image_id=image_id, user=request.user)
        count = services.like_create(user=request.user, image=image)
        return Response({"liked": True, "like_count": count})

    @extend_schema(request=None, responses=LikeOutput)
    def delete(self, request: Request, image_id: int) -> Response:
        image = image_get(image_id=image_id, user=request.user)
        count = services.like_delete(user=request.user, image=image)
        return Response({"liked": False, "like_count": count})


class ReportView(APIView):
    """``POST /api/images/{id}/report/``: tell the moderators about an image.

    The answer is the reporter's own report; nobody is ever shown anyone else's.
    """

    permission_classes = [IsAuthenticated]

    class ReportInput(serializers.Serializer):
        reason = serializers.ChoiceField(choices=Report.Reason.choices)
        note = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")

    class ReportOutput(serializers.Serializer):
        id = serializers.IntegerField()
        image = serializers.IntegerField(source="image_id")
        reason = serializers.CharField()
        note = serializers.CharField()
        created = serializers.DateTimeField()

    @extend_schema(request=ReportInput, responses={201: ReportOutput})
    def post(self, request: Request, image_id: int) -> Response:
        body = self.ReportInput(data=request.data)
        body.is_valid(raise_exception=True)
        image = image_get(image_id=image_id, user=request.user)
        try:
            report = services.report_create(
                reporter=request.user, image=image, **body.validated_data
            )
        except services.SocialError as exc:
            raise _refuse(exc) from None
        return Response(self.ReportOutput(report).data, status=status.HTTP_201_CREATED)


# --- Collections -------------------------------------------------------------------------------


class CollectionSerializer(serializers.ModelSerializer):
    """A collection with its cover (thumbnails of its first visible images)."""

    owner = serializers.CharField(source="owner.username", read_only=True)
    image_count = serializers.IntegerField(read_only=True)
    cover = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)

    class Meta:
        model = Collection
        fields = [
            "id",
            "name",
            "description",
            "visibility",
            "owner",
            "image_count",
            "cover",
            "page_url",
            "created",
            "updated",
        ]
        read_only_fields = ["created", "updated"]

    @extend_schema(responses=serializers.ListField(child=serializers.URLField()))
    def get_cover(self, collection: Collection) -> list[str]:
        request = self.context.get("request")
        items = getattr(collection, "cover_items", [])
        return [_absolute(request, item.image.thumb_small.url) for item in items]

    def get_page_url(self, collection: Collection) -> str:
        return _absolute(self.context.get("request"), f"/collections/{collection.id}/")


class CollectionViewSet(viewsets.ModelViewSet):
    """Collections: public ones for everyone, private ones for their owner only (404 to others).

    ``?owner=<username>`` narrows the list; ``GET .../{id}/images/`` pages through its images.
    """

    serializer_class = CollectionSerializer
    keyset_orderings = {"-created": ("-created", "-id")}
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[Collection]:
        queryset = collection_list(user=self.request.user)
        owner = self.request.query_params.get("owner")
        if owner:
            queryset = queryset.filter(owner__username=owner)
        return queryset

    def get_object(self) -> Collection:
        collection = collection_get(
            collection_id=_int_id(self.kwargs["pk"]), user=self.request.user
        )
        if self.request.method not in ("GET", "HEAD", "OPTIONS") and (
            collection.owner_id != self.request.user.pk
        ):
            raise PermissionDenied("Only the owner can change this collection.")
        return collection

    def perform_create(self, serializer: CollectionSerializer) -> None:
        try:
            collection = services.collection_create(
                owner=self.request.user, **serializer.validated_data
            )
        except services.SocialError as exc:
            raise _refuse(exc) from None
        serializer.instance = collection_get(collection_id=collection.id, user=self.request.user)

    def perform_update(self, serializer: CollectionSerializer) -> None:
        try:
            services.collection_update(
                collection=serializer.instance, changes=serializer.validated_data
            )
        except services.SocialError as exc:
            raise _refuse(exc) from None
        serializer.instance = collection_get(
            collection_id=serializer.instance.id, user=self.request.user
        )

    def perform_destroy(self, instance: Collection) -> None:
        services.collection_delete(collection=instance)

    @extend_schema(responses=paginated(ImageSerializer))
    @action(detail=True, methods=["get"], pagination_class=None)
    def images(self, request: Request, pk: str | None = None) -> Response:
        """The collection's images the viewer may see, newest first (keyset pages)."""
        collection = self.get_object()
        return image_page_response(
            request=request, images=collection_images(collection=collection, user=request.user)
        )


def _int_id(raw: Any) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise Http404 from None


class CollectionImageView(APIView):
    """``POST`` puts an image into one of your collections, ``DELETE`` takes it out."""

    permission_classes = [IsAuthenticated]

    def _objects(self, request: Request, collection_id: int, image_id: int):
        collection = collection_get_own(collection_id=collection_id, user=request.user)
        image = image_get(image_id=image_id, user=request.user)
        return collection, image

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request, collection_id: int, image_id: int) -> Response:
        collection, image = self._objects(request, collection_id, image_id)
        services.collection_image_add(collection=collection, image=image)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, collection_id: int, image_id: int) -> Response:
        collection = collection_get_own(collection_id=collection_id, user=request.user)
        # Taking out needs no visibility check: an image hidden since it was added can go too.
        image = Image(pk=image_id)
        services.collection_image_remove(collection=collection, image=image)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- People, follows, the feed, /api/me/ -------------------------------------------------------


class FollowOutput(serializers.Serializer):
    following = serializers.BooleanField()
    followers = serializers.IntegerField()


class FollowView(APIView):
    """``POST`` follows a person, ``DELETE`` unfollows; both idempotent."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=FollowOutput)
    def post(self, request: Request, username: str) -> Response:
        person = person_get(username=username)
        try:
            services.follow_create(follower=request.user, followee=person)
        except services.SocialError as exc:
            raise _refuse(exc) from None
        return Response({"following": True, "followers": follow_counts(user=person)["followers"]})

    @extend_schema(request=None, responses=FollowOutput)
    def delete(self, request: Request, username: str) -> Response:
        person = person_get(username=username)
        services.follow_delete(follower=request.user, followee=person)
        return Response({"following": False, "followers": follow_counts(user=person)["followers"]})


class FollowingFeedView(APIView):
    """``GET /api/feed/following/``: new images by the people you follow, newest first."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=paginated(ImageSerializer))
    def get(self, request: Request) -> Response:
        return image_page_response(
            request=request, images=images_following(user=request.user), orderings=_NewestFirst
        )


def _avatar_url(request: Request, profile: Profile) -> str | None:
    return _absolute(request, profile.avatar.url) if profile.avatar else None


class PersonSerializer(serializers.Serializer):
    username = serializers.CharField()
    bio = serializers.CharField()
    links = serializers.ListField(child=serializers.URLField())
    avatar_url = serializers.URLField(allow_null=True)
    followers = serializers.IntegerField()
    following = serializers.IntegerField()
    followed_by_me = serializers.BooleanField()


class PersonView(APIView):
    """``GET /api/users/{username}/``: a person's public profile."""

    permission_classes = [AllowAny]

    @extend_schema(responses=PersonSerializer)
    def get(self, request: Request, username: str) -> Response:
        person = person_get(username=username)
        profile = profile_of(user=person)
        return Response(
            {
                "username": person.username,
                "bio": profile.bio,
                "links": profile.links,
                "avatar_url": _avatar_url(request, profile),
                **follow_counts(user=person),
                "followed_by_me": follow_exists(follower=request.user, followee=person),
            }
        )


class LinksField(serializers.ListField):
    """Up to five http(s) links (URLField accepts ftp too; a profile link should open)."""

    child = serializers.URLField(max_length=200)

    def to_internal_value(self, data: Any) -> list[str]:
        links = super().to_internal_value(data)
        for link in links:
            if not link.startswith(("http://", "https://")):
                raise ValidationError("Links must start with http:// or https://.")
        return links


class MeView(APIView):
    """``GET`` / ``PATCH /api/me/``: your settings and profile.

    ``nsfw``: ``hide`` (safe images only, the default), ``blur`` (suggestive, explicit and
    unrated images shown blurred until clicked) or ``show``. ``nsfw_allowed`` is false while
    the account is younger than the site's minimum age for mature images.
    """

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]  # settings are JSON; the avatar has its own multipart address

    class MeInput(serializers.Serializer):
        nsfw = serializers.ChoiceField(choices=Profile.Mature.choices, required=False)
        bio = serializers.CharField(max_length=1000, required=False, allow_blank=True)
        links = LinksField(required=False, max_length=5)

    class MeOutput(serializers.Serializer):
        username = serializers.CharField()
        nsfw = serializers.ChoiceField(choices=Profile.Mature.choices)
        nsfw_effective = serializers.ChoiceField(choices=Profile.Mature.choices)
        nsfw_allowed = serializers.BooleanField()
        bio = serializers.CharField()
        links = serializers.ListField(child=serializers.URLField())
        avatar_url = serializers.URLField(allow_null=True)

    def _me(self, request: Request) -> dict[str, Any]:
        profile = profile_of(user=request.user)
        return {
            "username": request.user.username,
            "nsfw": profile.mature,
            "nsfw_effective": viewer_mature(user=request.user),
            "nsfw_allowed": mature_allowed(user=request.user),
            "bio": profile.bio,
            "links": profile.links,
            "avatar_url": _avatar_url(request, profile),
        }

    @extend_schema(responses=MeOutput)
    def get(self, request: Request) -> Response:
        return Response(self._me(request))

    @extend_schema(request=MeInput, responses=MeOutput)
    def patch(self, request: Request) -> Response:
        body = self.MeInput(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        changes = dict(body.validated_data)
        if "nsfw" in changes:
            changes["mature"] = changes.pop("nsfw")
        try:
            services.profile_update(user=request.user, changes=changes)
        except services.SocialError as exc:
            raise _refuse(exc) from None
        return Response(self._me(request))


class AvatarView(APIView):
    """``POST /api/me/avatar/`` (multipart ``file``): a new avatar, re-encoded by the server."""

    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser]

    @extend_schema(
        request=inline_serializer("AvatarInput", {"file": serializers.FileField()}),
        responses=MeView.MeOutput,
    )
    def post(self, request: Request) -> Response:
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError({"file": "Send the image as the multipart field 'file'."})
        if upload.size > settings.MAX_UPLOAD_BYTES:
            return Response({"detail": "This file is too large."}, status=413)
        try:
            services.avatar_set(user=request.user, data=upload.read())
        except UploadRefused as exc:
            return Response({"detail": exc.message}, status=exc.status)
        return Response(MeView()._me(request))


def liked_by_me(request: Request, queryset: QuerySet[Image]) -> QuerySet[Image]:
    """``?liked_by=me`` on /api/images/: only "me" (nobody else's likes are listed)."""
    value = request.query_params.get("liked_by")
    if value is None:
        return queryset
    if value != "me":
        raise ValidationError({"liked_by": "Only liked_by=me is supported."})
    if not request.user.is_authenticated:
        raise NotAuthenticated("Sign in to list the images you liked.")
    return queryset.filter(likes__user=request.user)


class TokenView(ObtainAuthToken):
    """``POST /api/auth/token/``: DRF's token view, rate-limited like the sign-in page (429)."""

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not isinstance(request.data, Mapping):
            raise ValidationError("Send an object with a username and a password.")
        username = str(request.data.get("username", ""))
        if login_blocked(request=request, username=username):
            return Response({"detail": RATE_LIMITED_MESSAGE}, status=429)
        try:
            return super().post(request, *args, **kwargs)
        except ValidationError:
            login_failed(username=username)
            raise

"""API paths of the social layer (the collections resource is on the main router)."""

from django.urls import path

from gallery.social import api

urlpatterns = [
    path("images/<int:image_id>/like/", api.LikeView.as_view(), name="api-like"),
    path("images/<int:image_id>/report/", api.ReportView.as_view(), name="api-report"),
    path(
        "collections/<int:collection_id>/images/<int:image_id>/",
        api.CollectionImageView.as_view(),
        name="api-collection-image",
    ),
    path("users/<str:username>/", api.PersonView.as_view(), name="api-user"),
    path("users/<str:username>/follow/", api.FollowView.as_view(), name="api-follow"),
    path("feed/following/", api.FollowingFeedView.as_view(), name="api-feed-following"),
    path("me/", api.MeView.as_view(), name="api-me"),
    path("me/avatar/", api.AvatarView.as_view(), name="api-me-avatar"),
]

"""HTML pages of the social layer."""

from django.urls import path

from gallery.social import views

app_name = "social"

urlpatterns = [
    path("following/", views.following_feed, name="following"),
    path("likes/", views.my_likes, name="likes"),
    path("settings/", views.settings_page, name="settings"),
    path("images/<int:image_id>/like/", views.like_toggle, name="like"),
    path("images/<int:image_id>/save/", views.save_menu, name="save"),
    path("images/<int:image_id>/report/", views.report, name="report"),
    path("images/<int:image_id>/edit/", views.image_edit, name="image-edit"),
    path("images/<int:image_id>/delete/", views.image_delete, name="image-delete"),
    path("u/<str:username>/follow/", views.follow_toggle, name="follow"),
    path("collections/new/", views.collection_new, name="collection-new"),
    path("collections/<int:collection_id>/", views.collection_detail, name="collection"),
    path("collections/<int:collection_id>/edit/", views.collection_edit, name="collection-edit"),
    path(
        "collections/<int:collection_id>/delete/",
        views.collection_delete,
        name="collection-delete",
    ),
    path(
        "collections/<int:collection_id>/images/<int:image_id>/",
        views.collection_image_toggle,
        name="collection-image",
    ),
    path("moderation/", views.moderation, name="moderation"),
    path("moderation/<int:image_id>/", views.moderation_act, name="moderation-act"),
]

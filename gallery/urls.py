from django.urls import path

from gallery import prompt_views, search_views, views
from gallery.social import views as social_views
from gallery.uploads import views as upload_views

app_name = "gallery"

urlpatterns = [
    path("", views.gallery_index, name="index"),
    path("images/<int:image_id>/", views.image_detail, name="image"),
    path("images/<int:image_id>/download/", views.download, name="download"),
    path("images/<int:image_id>/similar/", search_views.image_similar, name="similar"),
    path("u/<str:username>/", social_views.profile, name="profile"),
    path("enhance/", prompt_views.enhance, name="enhance"),
    path("modifiers/", prompt_views.modifiers, name="modifiers"),
    path("accounts/signup/", views.signup, name="signup"),
    path("upload/", upload_views.upload_page, name="upload"),
    path("uploads/<int:upload_id>/preview/", upload_views.upload_preview, name="upload-preview"),
]

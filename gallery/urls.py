from django.urls import path

from gallery import views

app_name = "gallery"

urlpatterns = [
    path("", views.gallery_index, name="index"),
    path("images/<int:image_id>/", views.image_detail, name="image"),
    path("images/<int:image_id>/download/", views.download, name="download"),
    path("u/<str:username>/", views.profile, name="profile"),
    path("accounts/signup/", views.signup, name="signup"),
]

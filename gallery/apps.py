from django.apps import AppConfig


class GalleryConfig(AppConfig):
    """Images, their files and thumbnails, the people who own them."""

    name = "gallery"
    verbose_name = "Gallery"

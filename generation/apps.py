from django.apps import AppConfig


class GenerationConfig(AppConfig):
    """Generation jobs, the diffusers pipelines and the Celery workers that run them."""

    name = "generation"
    verbose_name = "Generation"

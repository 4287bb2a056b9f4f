from django.apps import AppConfig


class PromptsConfig(AppConfig):
    """Prompt text: normalisation, parsing and (later) embeddings and vector search."""

    name = "prompts"
    verbose_name = "Prompts"

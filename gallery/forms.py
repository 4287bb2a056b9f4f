"""HTML forms of the gallery app."""

from __future__ import annotations

from django.contrib.auth.forms import UserCreationForm


class SignupForm(UserCreationForm):
    """Username and password; nothing else is needed to start."""

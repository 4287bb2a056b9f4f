"""HTML forms of the social pages (the API validates with its own serializers)."""

from __future__ import annotations

from django import forms
from django.core.validators import URLValidator

from gallery.models import Collection, Image, Profile, Report
from prompts.text import MAX_PROMPT_CHARS

MAX_LINKS = 5


class CollectionForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=2000, required=False, widget=forms.Textarea)
    visibility = forms.ChoiceField(
        choices=Collection.Visibility.choices, initial=Collection.Visibility.PUBLIC
    )


class ReportForm(forms.Form):
    reason = forms.ChoiceField(choices=Report.Reason.choices, widget=forms.RadioSelect)
    note = forms.CharField(
        max_length=1000, required=False, widget=forms.Textarea, label="Anything to add"
    )


class ImageEditForm(forms.Form):
    prompt = forms.CharField(max_length=MAX_PROMPT_CHARS, widget=forms.Textarea)
    negative_prompt = forms.CharField(
        max_length=MAX_PROMPT_CHARS, required=False, widget=forms.Textarea
    )
    rating = forms.ChoiceField(choices=Image.Rating.choices)


class SettingsForm(forms.Form):
    """Profile and viewing preferences. ``links``: one http(s) address a line."""

    bio = forms.CharField(max_length=1000, required=False, widget=forms.Textarea)
    links = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=f"One address a line, up to {MAX_LINKS}.",
    )
    mature = forms.ChoiceField(
        choices=Profile.Mature.choices,
        widget=forms.RadioSelect,
        label="Suggestive and explicit images",
    )
    avatar = forms.FileField(required=False, help_text="PNG, JPEG or WebP; cropped to a square.")

    def clean_links(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["links"].splitlines() if line.strip()]
        if len(lines) > MAX_LINKS:
            raise forms.ValidationError(f"At most {MAX_LINKS} links.")
        check = URLValidator(schemes=["http", "https"])
        for line in lines:
            if len(line) > 200:
                raise forms.ValidationError("Links are at most 200 characters.")
            check(line)
        return lines

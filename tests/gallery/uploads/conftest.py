"""Uploads never run a model: skip building the tiny SD pipeline for these tests."""

from tests.gallery.uploads.files import tiny_model_dir  # noqa: F401

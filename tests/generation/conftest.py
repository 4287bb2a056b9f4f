"""Fixtures for the diffusers-layer tests: one torch thread, the tiny model loaded on the CPU."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def one_torch_thread():
    """Renders are tiny: threads only add scheduling noise on a busy 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def pipe(tiny_model_dir: Path):
    """The tiny model, loaded once per test module."""
    from generation.pipelines import load_pipeline

    return load_pipeline(str(tiny_model_dir), device="cpu")

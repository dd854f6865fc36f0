"""Fixtures of the training tests: one torch thread, a paired scan on disk, a VGG-19 checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.pairs import write_vgg_checkpoint


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs torch on one thread (`one_torch_thread` in tests/conftest.py)."""


@pytest.fixture(scope="session")
def vgg_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A torchvision-layout VGG-19 encoder checkpoint (random values), saved with torch.save."""
    return write_vgg_checkpoint(tmp_path_factory.mktemp("weights") / "vgg19-test.pth")

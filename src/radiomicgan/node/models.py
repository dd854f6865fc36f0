"""Which model harmonizes a series arriving at the node: one fixed model, or the registry's pick.

A chooser loads each model once (`Harmonizer.load`) and hands it to the worker per series. A series
no model fits raises `InputError`, and the worker quarantines it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from pydicom.dataset import Dataset

from radiomicgan.config import HarmonizeConfig
from radiomicgan.inference import Harmonizer
from radiomicgan.modelfile import read_metadata

log = logging.getLogger(__name__)


class ModelChooser(Protocol):
    """Picks the harmonizer of a series from its header."""

    def describe(self) -> str:
        """What the node harmonizes with, in one line."""
        ...

    def check(self) -> None:
        """Fail at start-up on a model that cannot be used (raises InputError)."""
        ...

    def choose(self, header: Dataset, where: Path) -> Harmonizer:
        """The harmonizer for the series `header` comes from (stored at `where`).

        Raises:
            InputError: no model fits the series.
        """
        ...


class FixedModel:
    """Every series harmonized by one model, a run folder or a model file, loaded on first use.

    Args:
        path: the run folder or model file.
        settings: how the model runs.
    """

    def __init__(self, path: str | Path, settings: HarmonizeConfig) -> None:
        self.path = Path(path)
        self.settings = settings
        self._harmonizer: Harmonizer | None = None

    def describe(self) -> str:
        return f"model {self.path}"

    def check(self) -> None:
        """Read the model file's metadata (no weights): a file that is not ours fails here.

        Raises:
            InputError: not a radiomicgan model, or unreadable.
        """
        read_metadata(self.path)

    def load(self) -> Harmonizer:
        """Load the model now (the node does before it takes series: an ONNX export takes seconds)."""
        if self._harmonizer is None:
            self._harmonizer = Harmonizer.load(self.path, self.settings)
            self._harmonizer.announce()
        return self._harmonizer

    def choose(self, header: Dataset, where: Path) -> Harmonizer:
        return self.load()

"""Which model harmonizes a series arriving at the node: one fixed model, or the registry's pick.

A chooser loads each model once (`Harmonizer.load`) and hands it to the worker per series. A series
no model fits raises `InputError`, and the worker quarantines it.

With `--model auto` the registry is listed again for every series, so a model registered (or
removed) while the node runs counts from the next series on, without a restart.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

from pydicom.dataset import Dataset

from radiomicgan.config import HarmonizeConfig
from radiomicgan.errors import InputError
from radiomicgan.inference import Harmonizer
from radiomicgan.io import kernel_text
from radiomicgan.modelfile import read_metadata
from radiomicgan.registry import ModelRegistry, series_keys

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


class RegistryModels:
    """Each series harmonized by the registered model its ConvolutionKernel and Manufacturer ask for.

    Args:
        registry: the model registry (`radiomicgan.registry`).
        settings: how the models run.
        loaded_max: models kept loaded at once (the least recently used goes first): memory stays
            bounded however many models are registered.
    """

    def __init__(self, registry: ModelRegistry, settings: HarmonizeConfig, *, loaded_max: int = 2) -> None:
        self.registry = registry
        self.settings = settings
        self.loaded_max = loaded_max
        self._loaded: OrderedDict[tuple[Path, int], Harmonizer] = OrderedDict()

    def describe(self) -> str:
        return f"the model registry {self.registry.root} (--model auto)"

    def check(self) -> None:
        """Refuse a registry that holds no model: every series would be quarantined.

        Raises:
            InputError: the registry is not a folder, or holds no model.
        """
        if not self.registry.list():
            raise InputError(
                self.registry.root, "no model is registered (radiomicgan models add RUN_DIR --name NAME)"
            )

    def choose(self, header: Dataset, where: Path) -> Harmonizer:
        """The harmonizer of the registered model matching the series, loaded once while it is used.

        Raises:
            InputError: no registered model matches the series' kernel and manufacturer.
        """
        model = self.registry.match(header)
        if model is None:
            kernel, manufacturer = series_keys(header)
            raise InputError(
                where,
                f"no registered model converts kernel {kernel_text(kernel) or '(none)'} of manufacturer "
                f"{manufacturer or '(none)'} (radiomicgan models list)",
            )
        path = model.model_path.resolve()
        key = (path, path.stat().st_mtime_ns)  # a model registered again under its name is loaded again
        if key in self._loaded:
            self._loaded.move_to_end(key)
            return self._loaded[key]
        while len(self._loaded) >= self.loaded_max:
            self._loaded.popitem(last=False)
        harmonizer = Harmonizer.load(path, self.settings)
        log.info("registered model %s: %s", model.name, harmonizer.describe())
        self._loaded[key] = harmonizer
        return harmonizer

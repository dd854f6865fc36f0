"""Choosing a series' model: one fixed model, or the registry's (`--model auto`), each loaded once."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from node.harness import write_series
from radiomicgan.config import HarmonizeConfig
from radiomicgan.errors import InputError
from radiomicgan.node.models import FixedModel, RegistryModels
from radiomicgan.registry import ModelRegistry

SETTINGS = HarmonizeConfig(device="cpu", engine="torch")


def test_the_registry_picks_by_kernel_loads_once_and_refuses_what_nothing_converts(
    wiener_model: Path, tmp_path: Path
) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    models = RegistryModels(registry, SETTINGS)
    with pytest.raises(InputError, match="no model is registered"):
        models.check()
    registry.add(wiener_model, "smooth-to-sharp")
    models.check()

    smooth = pydicom.dcmread(write_series(tmp_path / "in", "smooth").files[0], stop_before_pixels=True)
    first = models.choose(smooth, tmp_path)
    assert models.choose(smooth, tmp_path) is first  # loaded once
    assert first.metadata.method == "wiener"

    other = pydicom.dcmread(write_series(tmp_path / "in", "b70f", ConvolutionKernel="B70f").files[0])
    with pytest.raises(InputError, match=r"no registered model converts kernel B70f of manufacturer"):
        models.choose(other, tmp_path)


def test_a_fixed_model_that_is_not_ours_fails_its_check(tmp_path: Path) -> None:
    not_ours = tmp_path / "model.safetensors"
    not_ours.write_bytes(b"not a model")
    with pytest.raises(InputError, match=str(not_ours)):
        FixedModel(not_ours, SETTINGS).check()

"""Which registered model a series gets: kernel value by value, manufacturer without case or padding."""

from __future__ import annotations

import logging
from pathlib import Path

import pydicom
import pytest

from radiomicgan.registry import ModelRegistry, RegisteredModel, choose
from registry.scans import Runs


def _model(name: str, kernel: str, manufacturer: str = "") -> RegisteredModel:
    folder = Path("/registry") / name
    paths = folder / "model.safetensors", folder / "MODEL_CARD.md"
    return RegisteredModel(name, *paths, kernel, "Br64d\\3", manufacturer, "wiener")


def _chosen(models: list[RegisteredModel], kernel: str, manufacturer: str) -> str | None:
    model = choose(models, kernel, manufacturer)
    return model.name if model else None


def test_multi_valued_kernels_match_value_by_value() -> None:
    models = [_model("a3", "Br40d\\3"), _model("a2", "Br40d\\2"), _model("plain", "Br40d")]
    assert _chosen(models, "Br40d\\3", "") == "a3"
    assert _chosen(models, " br40d \\2", "") == "a2"
    assert _chosen(models, "Br40d", "") == "plain"
    assert choose(models, "Br40d\\4", "") is None
    assert choose(models, "", "") is None  # a series without a kernel gets no model
    assert choose([_model("unknown", "")], "", "") is None  # nor does a model without one match it


def test_manufacturer_is_compared_without_case_or_padding_and_none_matches_any() -> None:
    siemens, anyone = _model("siemens", "B30f", " SIEMENS "), _model("anyone", "B30f")
    assert choose([siemens], "B30f", "Siemens") == siemens
    assert choose([siemens], "B30f", "GE MEDICAL SYSTEMS") is None
    assert choose([siemens], "B30f", "") is None  # a vendor's kernel name on an unknown scanner
    assert choose([anyone], "B30f", "GE MEDICAL SYSTEMS") == anyone
    assert choose([anyone], "B30f", "") == anyone


def test_several_matches_prefer_a_manufacturer_then_the_name(caplog: pytest.LogCaptureFixture) -> None:
    models = [_model("z-siemens", "B30f", "Siemens"), _model("b-any", "B30f"), _model("a-any", "B30f")]
    with caplog.at_level(logging.INFO, logger="radiomicgan.registry"):
        assert choose(models, "B30f", "SIEMENS") == models[0]
    assert "3 registered models match kernel B30f (z-siemens, a-any, b-any); chose z-siemens" in caplog.text
    assert choose(models, "B30f", "Philips") == models[2]  # the Siemens model is out: names decide


def test_match_reads_a_series_header(runs: Runs, tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    registry.add(runs.strength3, "siemens-a3")
    registry.add(runs.strength2, "any-a2")
    header3 = pydicom.dcmread(next(runs.scan3.source.iterdir()), stop_before_pixels=True)
    header2 = pydicom.dcmread(next(runs.scan2.source.iterdir()), stop_before_pixels=True)
    assert registry.match(header3) == registry.show("siemens-a3")
    assert registry.match(header2) == registry.show("any-a2")
    header3.Manufacturer = "Philips"
    assert registry.match(header3) is None  # Br40d\3 is only registered for Siemens
    target = pydicom.dcmread(next(runs.scan3.target.iterdir()), stop_before_pixels=True)
    assert registry.match(target) is None  # the target kernel is no model's source

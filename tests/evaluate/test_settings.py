"""The shipped PyRadiomics settings and their validation."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from radiomicgan.errors import ConfigError
from radiomicgan.evaluate.settings import load_settings, validate_settings


def _shipped_params() -> dict[str, Any]:
    return copy.deepcopy(load_settings().params)


def test_shipped_settings_load_and_state_the_choices() -> None:
    settings = load_settings()
    params = settings.params
    assert params["setting"]["binWidth"] == 25
    assert params["setting"]["force2D"] is False and params["setting"]["label"] == 1
    assert settings.log_sigmas_mm == (1.0, 2.0, 3.0, 4.0, 5.0)
    assert set(params["featureClass"]) == {"firstorder", "shape2D", "glcm", "glrlm", "glszm", "gldm", "ngtdm"}
    assert load_settings("") == settings


def test_user_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("setting: {binWidth: 10}\nimageType: {Original: {}}\nfeatureClass: {firstorder: }\n")
    settings = load_settings(path)
    assert settings.params["setting"]["binWidth"] == 10 and settings.source == str(path)


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("setting", "force2D", True, "force2D"),
        ("setting", "label", 2, "label"),
        ("setting", "resampledPixelSpacing", [1.0, 1.0], "resampling"),
        ("setting", "binWidht", 25, "schema"),
        ("setting", "binWidth", "wide", "schema"),
        ("featureClass", "shape", None, "shape2D"),
        ("imageType", "LBP3D", {}, "LBP3D"),
    ],
)
def test_refused_settings(section: str, key: str, value: Any, message: str) -> None:
    params = _shipped_params()
    params[section][key] = value
    with pytest.raises(ConfigError, match=message):
        validate_settings(params, "mine.yaml")


def test_refused_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("setting: [unclosed\n")
    with pytest.raises(ConfigError, match="YAML"):
        load_settings(bad)
    bad.write_text("- just a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(bad)

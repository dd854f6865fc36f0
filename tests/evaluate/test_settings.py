"""The shipped PyRadiomics settings and their validation."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import scipy.special

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


def test_shipped_3d_settings_carry_the_2d_choices_to_regions() -> None:
    settings, flat = load_settings(dimensions=3), load_settings()
    assert settings.dimensions == 3 and settings.source == "radiomics_3d.yaml"
    assert set(settings.params["featureClass"]) == {
        "firstorder",
        "shape",
        "glcm",
        "glrlm",
        "glszm",
        "gldm",
        "ngtdm",
    }
    assert settings.log_sigmas_mm == flat.log_sigmas_mm
    assert settings.params["setting"]["binWidth"] == flat.params["setting"]["binWidth"]
    assert set(settings.params["imageType"]) == set(flat.params["imageType"]) - {"LBP2D"}


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("setting", "force2D", True, "force2D"),
        ("setting", "label", 3, "label"),
        ("featureClass", "shape2D", None, "shape2D"),
    ],
)
def test_refused_3d_settings(section: str, key: str, value: Any, message: str) -> None:
    params = copy.deepcopy(load_settings(dimensions=3).params)
    params[section][key] = value
    with pytest.raises(ConfigError, match=message):
        validate_settings(params, "mine.yaml", dimensions=3)


def test_3d_settings_may_resample_and_refuse_lbp3d_only_where_scipy_lacks_it() -> None:
    params = copy.deepcopy(load_settings(dimensions=3).params)
    params["setting"]["resampledPixelSpacing"] = [1.0, 1.0, 1.0]
    assert validate_settings(params, dimensions=3).params["setting"]["resampledPixelSpacing"] == [1, 1, 1]
    params["imageType"]["LBP3D"] = {}
    if hasattr(scipy.special, "sph_harm"):
        validate_settings(params, dimensions=3)
    else:
        with pytest.raises(ConfigError, match="LBP3D cannot run with SciPy"):
            validate_settings(params, dimensions=3)

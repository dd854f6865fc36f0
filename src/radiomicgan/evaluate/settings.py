"""PyRadiomics parameters: the shipped 2-D settings, loading, validation.

The parameters use PyRadiomics' own file layout (`setting`, `imageType`, `featureClass`), so a user can
hand the same YAML to PyRadiomics directly. They are checked twice: by PyRadiomics' schema (unknown
keys, wrong types) and by the rules below, which the evaluation relies on.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import radiomics
import yaml
from radiomics import featureextractor

from radiomicgan.errors import ConfigError

# PyRadiomics adds a stderr handler to its logger at import and logs a warning per skipped filter;
# quieten that logger only (never the root logger), so our own logging decides what users see.
logging.getLogger("radiomics").setLevel(logging.ERROR)

SHIPPED_SETTINGS = "radiomics_2d.yaml"
PYRADIOMICS_VERSION = str(radiomics.__version__)
_SECTIONS = {"setting", "imageType", "featureClass"}


@dataclass(frozen=True)
class RadiomicsSettings:
    """Validated PyRadiomics parameters.

    Attributes:
        params_json: the parameters as canonical JSON (sorted keys): hashable, cheap to send to worker
            processes, and the settings part of a feature cache key.
        source: the file they came from (for the report).
    """

    params_json: str
    source: str

    @property
    def params(self) -> dict[str, Any]:
        """The parameters as a mapping with `setting`, `imageType` and `featureClass`."""
        return json.loads(self.params_json)  # type: ignore[no-any-return]

    @property
    def log_sigmas_mm(self) -> tuple[float, ...]:
        """The LoG filter widths, in mm (empty when LoG is not enabled)."""
        log = self.params.get("imageType", {}).get("LoG") or {}
        return tuple(float(s) for s in log.get("sigma", []))


def load_settings(path: str | Path | None = None) -> RadiomicsSettings:
    """Read and validate a PyRadiomics parameter YAML; None or "" reads the shipped 2-D settings.

    Raises:
        ConfigError: the file is missing, not YAML, or its parameters are refused.
    """
    if not path:
        resource = resources.files("radiomicgan.evaluate").joinpath(SHIPPED_SETTINGS)
        return validate_settings(yaml.safe_load(resource.read_text(encoding="utf-8")), SHIPPED_SETTINGS)
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: PyRadiomics settings file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({type(exc).__name__})") from exc
    return validate_settings(data, str(path))


def validate_settings(params: Any, source: str = "<memory>") -> RadiomicsSettings:
    """Check PyRadiomics parameters against PyRadiomics' schema and the evaluation's rules.

    Rules: images are true 2-D (`force2D` false, no 3-D `shape`, no `LBP3D`), masks use label 1, no
    resampling (masks are drawn on the native grid), at least one feature class and one image type.

    Raises:
        ConfigError: naming the source and the first problem found.
    """
    if not isinstance(params, Mapping) or not set(params) <= _SECTIONS:
        raise ConfigError(f"{source}: PyRadiomics settings must be a mapping of {sorted(_SECTIONS)}")
    try:
        new_extractor(json.dumps(params))
    except Exception as exc:  # pykwalify raises its own error types, PyRadiomics ValueError/KeyError
        raise ConfigError(f"{source}: refused by PyRadiomics' schema: {_one_line(exc)}") from exc
    setting = params.get("setting") or {}
    image_types = params.get("imageType") or {}
    classes = params.get("featureClass") or {}
    problems = [
        (bool(setting.get("force2D", False)), "force2D must be false: the evaluation passes true 2-D images"),
        (int(setting.get("label", 1)) != 1, "label must be 1 (the evaluation writes masks with label 1)"),
        (setting.get("resampledPixelSpacing") is not None, "resampling would move the reference's masks"),
        ("shape" in classes, "use shape2D, not the 3-D shape class"),
        ("LBP3D" in image_types, "LBP3D is a 3-D filter; use LBP2D"),
        (not classes or not image_types, "enable at least one feature class and one image type"),
    ]
    for failed, message in problems:
        if failed:
            raise ConfigError(f"{source}: {message}")
    return RadiomicsSettings(json.dumps(params, sort_keys=True), source)


def new_extractor(params_json: str) -> featureextractor.RadiomicsFeatureExtractor:
    """A PyRadiomics extractor configured from parameters as JSON (validated by PyRadiomics' schema)."""
    extractor = featureextractor.RadiomicsFeatureExtractor()
    with warnings.catch_warnings():
        # pykwalify loads PyRadiomics' schema functions with the deprecated importlib load_module()
        warnings.simplefilter("ignore", DeprecationWarning)
        extractor.loadJSONParams(params_json)
    return extractor


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__

"""PyRadiomics parameters: the shipped 2-D and 3-D settings, loading, validation.

The parameters use PyRadiomics' own file layout (`setting`, `imageType`, `featureClass`), so a user can
hand the same YAML to PyRadiomics directly. They are checked twice: by PyRadiomics' schema (unknown
keys, wrong types) and by the rules below, which the extraction relies on. The 2-D settings measure
true 2-D images (the random-box evaluation, `radiomicgan features --2d`); the 3-D settings measure
whole regions in 3-D (`radiomicgan features`, the lesion evaluation).
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import radiomics
import scipy
import yaml
from radiomics import featureextractor

from radiomicgan.errors import ConfigError

# PyRadiomics adds a stderr handler to its logger at import and logs a warning per skipped filter;
# quieten that logger only (never the root logger), so our own logging decides what users see.
logging.getLogger("radiomics").setLevel(logging.ERROR)

SHIPPED_SETTINGS = "radiomics_2d.yaml"
SHIPPED_SETTINGS_3D = "radiomics_3d.yaml"
Dimensions = Literal[2, 3]
PYRADIOMICS_VERSION = str(radiomics.__version__)
_SECTIONS = {"setting", "imageType", "featureClass"}


@dataclass(frozen=True)
class RadiomicsSettings:
    """Validated PyRadiomics parameters.

    Attributes:
        params_json: the parameters as canonical JSON (sorted keys): hashable, cheap to send to worker
            processes, and the settings part of a feature cache key.
        source: the file they came from (for the report).
        dimensions: 2 for true 2-D images (ROIs, slices), 3 for 3-D regions: the rules they passed.
    """

    params_json: str
    source: str
    dimensions: Dimensions = 2

    @property
    def params(self) -> dict[str, Any]:
        """The parameters as a mapping with `setting`, `imageType` and `featureClass`."""
        return json.loads(self.params_json)  # type: ignore[no-any-return]

    @property
    def log_sigmas_mm(self) -> tuple[float, ...]:
        """The LoG filter widths, in mm (empty when LoG is not enabled)."""
        log = self.params.get("imageType", {}).get("LoG") or {}
        return tuple(float(s) for s in log.get("sigma", []))


def load_settings(path: str | Path | None = None, *, dimensions: Dimensions = 2) -> RadiomicsSettings:
    """Read and validate a PyRadiomics parameter YAML; None or "" reads the shipped settings.

    Args:
        path: the YAML file; None or "" for radiomics_2d.yaml or radiomics_3d.yaml (shipped).
        dimensions: 2 for true 2-D images, 3 for 3-D regions: which rules apply, which file is shipped.

    Raises:
        ConfigError: the file is missing, not YAML, or its parameters are refused.
    """
    if not path:
        name = SHIPPED_SETTINGS if dimensions == 2 else SHIPPED_SETTINGS_3D
        resource = resources.files("radiomicgan.evaluate").joinpath(name)
        return validate_settings(
            yaml.safe_load(resource.read_text(encoding="utf-8")), name, dimensions=dimensions
        )
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: PyRadiomics settings file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({type(exc).__name__})") from exc
    return validate_settings(data, str(path), dimensions=dimensions)


def validate_settings(
    params: Any, source: str = "<memory>", *, dimensions: Dimensions = 2
) -> RadiomicsSettings:
    """Check PyRadiomics parameters against PyRadiomics' schema and the extraction's rules.

    Rules for both: masks use label 1, at least one feature class and one image type, `force2D` false
    (2-D images are true 2-D images; 3-D regions are measured in 3-D, `--2d` is the per-slice way).
    2-D: no resampling (the reference's masks are drawn on the native grid), no 3-D `shape`, no
    `LBP3D`. 3-D: no `shape2D` (it needs force2D), and no `LBP3D` where SciPy lacks what PyRadiomics
    imports for it (`scipy.special.sph_harm`, gone in SciPy 1.17): PyRadiomics would only log an
    error and return no LBP3D feature. Resampling is allowed in 3-D: image and mask move together.

    Raises:
        ConfigError: naming the source and the first problem found.
    """
    if not isinstance(params, Mapping) or not set(params) <= _SECTIONS:
        raise ConfigError(f"{source}: PyRadiomics settings must be a mapping of {sorted(_SECTIONS)}")
    try:
        new_extractor(json.dumps(params))
    except Exception as exc:  # pykwalify raises its own error types, PyRadiomics ValueError/KeyError
        raise ConfigError(f"{source}: refused by PyRadiomics' schema: {_one_line(exc)}") from exc
    for failed, message in _problems(params, dimensions):
        if failed:
            raise ConfigError(f"{source}: {message}")
    return RadiomicsSettings(json.dumps(params, sort_keys=True), source, dimensions)


def _problems(params: Mapping[str, Any], dimensions: Dimensions) -> list[tuple[bool, str]]:
    """(refused, why) for each rule of `validate_settings`."""
    setting = params.get("setting") or {}
    image_types = params.get("imageType") or {}
    classes = params.get("featureClass") or {}
    problems = [
        (int(setting.get("label", 1)) != 1, "label must be 1 (radiomicgan writes masks with label 1)"),
        (not classes or not image_types, "enable at least one feature class and one image type"),
    ]
    if dimensions == 2:
        problems += [
            (
                bool(setting.get("force2D", False)),
                "force2D must be false: the evaluation passes true 2-D images",
            ),
            (setting.get("resampledPixelSpacing") is not None, "resampling would move the reference's masks"),
            ("shape" in classes, "use shape2D, not the 3-D shape class"),
            ("LBP3D" in image_types, "LBP3D is a 3-D filter; use LBP2D"),
        ]
    else:
        problems += [
            (
                bool(setting.get("force2D", False)),
                "force2D must be false for 3-D regions (--2d measures slices)",
            ),
            ("shape2D" in classes, "use shape, not shape2D, for 3-D regions (shape2D needs force2D)"),
            (
                "LBP3D" in image_types and not _lbp3d_runs(),
                f"PyRadiomics' LBP3D cannot run with SciPy {scipy.__version__} (it imports "
                "scipy.special.sph_harm and scipy.ndimage.interpolation, which SciPy has removed)",
            ),
        ]
    return problems


@functools.lru_cache(maxsize=4)
def cached_extractor(settings: RadiomicsSettings) -> featureextractor.RadiomicsFeatureExtractor:
    """The extractor of some settings, built once per process (a worker builds it on first use)."""
    return new_extractor(settings.params_json)


def new_extractor(params_json: str) -> featureextractor.RadiomicsFeatureExtractor:
    """A PyRadiomics extractor configured from parameters as JSON (validated by PyRadiomics' schema)."""
    extractor = featureextractor.RadiomicsFeatureExtractor()
    with warnings.catch_warnings():
        # pykwalify loads PyRadiomics' schema functions with the deprecated importlib load_module()
        warnings.simplefilter("ignore", DeprecationWarning)
        extractor.loadJSONParams(params_json)
    return extractor


def _lbp3d_runs() -> bool:
    # What PyRadiomics' getLBP3DImage imports, looked up without importing it.
    try:
        importlib.import_module("scipy.ndimage.interpolation")
    except ImportError:
        return False
    return hasattr(importlib.import_module("scipy.special"), "sph_harm")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__

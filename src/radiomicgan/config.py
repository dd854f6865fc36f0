"""Every knob of the toolkit in one typed place, with the paper's values as defaults.

Each section is a frozen dataclass. A YAML file overrides any field (unknown keys are errors), and
command-line options override the file. Values are validated once, here, when a section is built.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from radiomicgan.errors import ConfigError

T = TypeVar("T")


# --- simulation (paired kernels from one noisy sinogram) -------------------------------------------


@dataclasses.dataclass(frozen=True)
class SimulationConfig:
    """How `simulate` makes paired kernel series.

    The standard kernel is the sharp one, as the paper's Bl64 is sharper than its non-standard
    Bl57 and Br40 (Sec. 3.1).
    """

    kernels: tuple[str, ...] = ("smooth", "medium", "sharp")
    standard_kernel: str = "sharp"  # the kernel every other is harmonized to (paper: Bl64)
    slices: int = 8  # number of slices simulated (taken around the source's centre)
    size_px: int = 256  # in-plane matrix size of the simulated slices
    photons_per_ray: float = 2.0e5  # unattenuated photon count per detector bin (sets the noise level)
    angles: int = 0  # projections over 180 degrees; 0 means ceil(pi/2 * size_px), enough for no streaks
    pixel_mm: float = 0.0  # in-plane pixel size; 0 keeps the source's (phantom: 360 mm field of view)
    slice_mm: float = 0.0  # slice spacing; 0 keeps the source's (phantom: 2.5 mm)
    seed: int = 0
    retest: bool = False  # also reconstruct the standard kernel from an independent noise realization
    jobs: int = 0  # worker processes for slices; 0 means all cores

    def __post_init__(self) -> None:
        if not self.kernels:
            raise ConfigError("simulation: at least one kernel is needed")
        if self.retest and self.standard_kernel not in self.kernels:
            raise ConfigError(f"simulation: standard kernel {self.standard_kernel!r} is not among {self.kernels}")
        _require(self.slices >= 1, "simulation: slices must be >= 1")
        _require(16 <= self.size_px <= 2048, "simulation: size_px must lie in [16, 2048]")
        _require(self.photons_per_ray > 0, "simulation: photons_per_ray must be > 0")
        _require(self.angles >= 0 and self.jobs >= 0, "simulation: angles and jobs must be >= 0")


# --- loading and overriding ------------------------------------------------------------------------


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from a config file.

    Raises:
        ConfigError: the file is missing, is not YAML, or is not a mapping.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({type(exc).__name__})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping of option: value")
    return data


def build(cls: type[T], *layers: dict[str, Any] | None) -> T:
    """Build a config section from its defaults overridden by each layer in turn (file, then CLI).

    Keys whose value is None are ignored, so unset CLI options keep the file's or the default value.
    Lists become tuples for tuple fields, and nested sections are built recursively.

    Raises:
        ConfigError: an unknown key, or a value the section refuses.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls} is not a config dataclass")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            key = key.replace("-", "_")
            if key not in fields:
                known = ", ".join(sorted(fields))
                raise ConfigError(f"{cls.__name__}: unknown option {key!r} (known: {known})")
            if value is not None:
                merged[key] = _coerce(hints[key], value, key)
    try:
        return cls(**merged)
    except TypeError as exc:
        raise ConfigError(f"{cls.__name__}: {exc}") from exc


def _coerce(hint: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return build(hint, value)  # type: ignore[type-var]
    origin = typing.get_origin(hint)
    if origin is tuple and isinstance(value, list | tuple):
        return tuple(value)
    if origin is tuple and isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin in (typing.Union, types.UnionType):
        return value
    if hint in (int, float, str, bool) and not isinstance(value, hint):
        raise ConfigError(f"option {key!r} must be {hint.__name__}, got {value!r}")
    return value


def as_dict(section: Any) -> dict[str, Any]:
    """A config section as plain data (tuples become lists), ready for JSON or YAML."""
    data = dataclasses.asdict(section)
    return _plain(data)  # type: ignore[no-any-return]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value

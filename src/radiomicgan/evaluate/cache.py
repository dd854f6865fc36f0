"""A folder of extracted feature vectors, so a second evaluation against the same series is fast.

The key is a SHA-256 of everything the features depend on: the image region's values and shape, the mask,
the pixel spacing, the PyRadiomics settings and version. Each value is one `.npy` file of float64 feature
values in `feature_names(settings)` order (the settings are in the key, so the order is fixed), stored in a
sub-folder named by the key's first two hex digits to keep folders small. Files are read with
`allow_pickle=False` (no code can hide in a cache file) and written atomically (temporary file, then
rename), so concurrent evaluations may share one folder.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from radiomicgan.config import user_cache_dir
from radiomicgan.errors import OutputError
from radiomicgan.evaluate.settings import PYRADIOMICS_VERSION, RadiomicsSettings
from radiomicgan.io.atomic import atomic_file

_FORMAT = b"radiomicgan-features-v1"


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/radiomicgan/features, or ~/.cache/radiomicgan/features."""
    return user_cache_dir("features")


def cache_folder(cache_dir: str | Path, *, enabled: bool = True) -> Path | None:
    """Where `evaluate` keeps features: `cache_dir`, or `default_cache_dir()` when it is empty.

    Args:
        cache_dir: the configured folder (`FeatureConfig.cache_dir`); "" for the user's cache folder.
        enabled: False for no cache at all (the command line's --no-cache).

    Returns:
        The folder, or None without a cache.
    """
    if not enabled:
        return None
    return Path(cache_dir) if str(cache_dir) else default_cache_dir()


def feature_key(
    image_hu: NDArray[np.floating],
    mask: NDArray[np.bool_],
    spacing_yx_mm: tuple[float, float],
    settings: RadiomicsSettings,
) -> str:
    """SHA-256 hex digest identifying one extraction (image as float32, mask as bool)."""
    digest = hashlib.sha256(_FORMAT)
    image = np.ascontiguousarray(image_hu, dtype=np.float32)
    for part in (
        repr(image.shape).encode(),
        image.tobytes(),
        np.ascontiguousarray(mask, dtype=bool).tobytes(),
        repr(tuple(float(s) for s in spacing_yx_mm)).encode(),
        settings.params_json.encode(),
        PYRADIOMICS_VERSION.encode(),
    ):
        digest.update(len(part).to_bytes(8, "little"))  # length-prefixed: no two inputs concatenate alike
        digest.update(part)
    return digest.hexdigest()


class FeatureCache:
    """Feature vectors on disk, by `feature_key`.

    Attributes:
        folder: where the vectors live (created on first use).
        hits: look-ups answered from the folder since this object was made.
        misses: look-ups not found (each one is an extraction the caller then performs).
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npy"

    def get(self, key: str, n_features: int) -> NDArray[np.float64] | None:
        """The stored vector, or None when absent or not of the expected length (then recomputed)."""
        path = self._path(key)
        try:
            values = np.load(path, allow_pickle=False)
        except (FileNotFoundError, ValueError, OSError):
            values = None
        if values is None or values.shape != (n_features,) or values.dtype != np.float64:
            self.misses += 1
            return None
        self.hits += 1
        return np.asarray(values, dtype=np.float64)

    def put(self, key: str, values: NDArray[np.float64]) -> None:
        """Store a vector atomically.

        Raises:
            OutputError: the cache folder cannot be written.
        """
        try:
            with atomic_file(self._path(key)) as temporary, temporary.open("wb") as stream:
                np.save(stream, np.asarray(values, dtype=np.float64), allow_pickle=False)
        except OSError as exc:
            raise OutputError(self.folder, f"cannot write the feature cache ({exc.strerror})") from exc

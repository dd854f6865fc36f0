"""PyRadiomics features of 2-D ROIs: one extraction, the exact feature list, and batches over processes
(local ones, or a cluster's workers through a `radiomicgan.cluster` runner).

Every image and mask goes to PyRadiomics as a true 2-D SimpleITK image (PyRadiomics' LoG refuses a
one-slice 3-D image; on a 2-D image it filters in-plane and shape2D applies). Diagnostics are dropped.
With the shipped settings an ROI yields 1,497 features: 9 shape2D, then firstorder (18), glcm (24),
glrlm (16), glszm (16), gldm (14) and ngtdm (5) on each of 16 images (original, 4 wavelet sub-bands,
LoG at 1-5 mm, square, square root, logarithm, exponential, gradient, LBP2D).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk
from numpy.typing import NDArray

from radiomicgan.cluster import TaskRunner
from radiomicgan.evaluate.cache import FeatureCache, feature_key
from radiomicgan.evaluate.settings import (
    PYRADIOMICS_VERSION,
    RadiomicsSettings,
    cached_extractor,
    load_settings,
)
from radiomicgan.evaluate.workers import map_extractions
from radiomicgan.progress import progress_bar

MASK_ONLY_CLASSES = frozenset({"shape", "shape2D"})


@dataclass(frozen=True)
class FeatureTask:
    """One extraction: a 2-D image region in HU, its ROI mask (same shape) and pixel spacing (mm)."""

    image_hu: NDArray[np.floating]
    mask: NDArray[np.bool_]
    spacing_yx_mm: tuple[float, float]


def _resolve(settings: RadiomicsSettings | None) -> RadiomicsSettings:
    return settings if settings is not None else _shipped_settings()


@functools.lru_cache(maxsize=1)
def _shipped_settings() -> RadiomicsSettings:
    return load_settings(None)


@functools.lru_cache(maxsize=4)
def _names(settings: RadiomicsSettings) -> tuple[str, ...]:
    # PyRadiomics names derived images internally; extracting once from a probe is the exact list.
    side = max(32, int(np.ceil(max(settings.log_sigmas_mm, default=1.0))) + 2)
    ramp = np.add.outer(np.arange(side), 3 * np.arange(side)) * 7.0 - 500.0
    return tuple(_run(ramp, np.ones((side, side), dtype=bool), (1.0, 1.0), settings))


def feature_names(settings: RadiomicsSettings | None = None) -> list[str]:
    """Every feature an ROI yields under the settings, in extraction order (shipped settings by default)."""
    return list(_names(_resolve(settings)))


def split_feature_name(name: str) -> tuple[str, str, str]:
    """(image type, feature class, feature) of a PyRadiomics name, e.g. ("wavelet-LH", "glcm", "Contrast")."""
    image_type, feature_class, feature = name.split("_", 2)
    return image_type, feature_class, feature


def mask_only(names: Sequence[str]) -> NDArray[np.bool_]:
    """Which features depend on the ROI mask alone: PyRadiomics' shape classes (shape2D, shape).

    Every image is measured under the reference's masks, so these features take the same values for
    the reference and every candidate: CCC 1 by construction (undefined when constant). They say
    nothing about a candidate, so the reproducible counts leave them out.
    """
    return np.array([split_feature_name(name)[1] in MASK_ONLY_CLASSES for name in names], dtype=bool)


def describe_settings(settings: RadiomicsSettings | None = None) -> dict[str, Any]:
    """The extraction settings as plain data, for the report: source, version, parameters, feature count."""
    settings = _resolve(settings)
    params = settings.params
    return {
        "source": settings.source,
        "pyradiomics_version": PYRADIOMICS_VERSION,
        "setting": params.get("setting") or {},
        "imageType": params.get("imageType") or {},
        "featureClass": sorted(params.get("featureClass") or {}),
        "n_features": len(_names(settings)),
    }


def extract_features(
    image_hu_2d: NDArray[np.floating],
    mask_2d: NDArray[np.bool_],
    spacing_yx_mm: tuple[float, float],
    settings: RadiomicsSettings | None = None,
) -> dict[str, float]:
    """PyRadiomics features of one 2-D ROI.

    Args:
        image_hu_2d: [y, x] image region in HU; filters see all of it, features only the mask.
        mask_2d: [y, x] boolean ROI, same shape.
        spacing_yx_mm: pixel size along rows and columns, in mm.
        settings: validated PyRadiomics parameters; the shipped 2-D settings by default.

    Returns:
        {feature name: value} in `feature_names(settings)` order; NaN where PyRadiomics gives none.

    Raises:
        ValueError: shapes differ, the mask spans a single row or column, or the image is too small for
            a LoG sigma of the settings.
    """
    settings = _resolve(settings)
    _check_inputs(np.asarray(image_hu_2d), np.asarray(mask_2d), spacing_yx_mm, settings)
    values = _run(image_hu_2d, mask_2d, spacing_yx_mm, settings)
    names = _names(settings)
    if set(values) != set(names):
        missing = sorted(set(names) ^ set(values))[:3]
        raise RuntimeError(f"PyRadiomics returned {len(values)} features, expected {len(names)}: {missing}")
    return {name: values[name] for name in names}


def roi_problem(mask_2d: NDArray[np.bool_]) -> str | None:
    """Why a 2-D mask cannot be measured (it must span two rows and two columns), or None."""
    rows, cols = np.nonzero(mask_2d)
    if rows.size < 2 or np.ptp(rows) == 0 or np.ptp(cols) == 0:
        return f"the mask ({rows.size} pixels) must span at least two rows and two columns"
    return None


def _check_inputs(
    image: NDArray[Any], mask: NDArray[Any], spacing_yx_mm: tuple[float, float], settings: RadiomicsSettings
) -> None:
    if image.ndim != 2 or image.shape != mask.shape:
        raise ValueError(f"image and mask must be 2-D of one shape, got {image.shape} and {mask.shape}")
    problem = roi_problem(mask)
    if problem is not None:
        raise ValueError(problem)
    needed = [int(np.ceil(s / min(spacing_yx_mm))) + 1 for s in settings.log_sigmas_mm] + [4]
    if min(image.shape) < max(needed):
        raise ValueError(
            f"image region {image.shape} is too small for the LoG sigmas {settings.log_sigmas_mm} mm"
        )


def _run(
    image_hu_2d: NDArray[Any],
    mask_2d: NDArray[Any],
    spacing_yx_mm: tuple[float, float],
    settings: RadiomicsSettings,
) -> dict[str, float]:
    image = sitk.GetImageFromArray(np.asarray(image_hu_2d, dtype=np.float32))
    mask = sitk.GetImageFromArray(np.asarray(mask_2d, dtype=np.uint8))
    spacing_xy = (float(spacing_yx_mm[1]), float(spacing_yx_mm[0]))
    image.SetSpacing(spacing_xy)  # type: ignore[no-untyped-call]
    mask.SetSpacing(spacing_xy)  # type: ignore[no-untyped-call]
    with warnings.catch_warnings():
        # scikit-image warns that LBP on float images is sensitive to tiny differences; HU are coarse.
        warnings.filterwarnings("ignore", message=".*local_binary_pattern.*", category=UserWarning)
        result = cached_extractor(settings).execute(image, mask)
    return {k: float(v) for k, v in result.items() if not k.startswith("diagnostics_")}


def _extract_vector(task: FeatureTask, settings: RadiomicsSettings) -> NDArray[np.float64]:
    values = extract_features(task.image_hu, task.mask, task.spacing_yx_mm, settings)
    return np.fromiter(values.values(), dtype=np.float64, count=len(values))


def extract_many(
    tasks: Sequence[FeatureTask],
    jobs: int = 1,
    progress: bool = False,
    *,
    settings: RadiomicsSettings | None = None,
    cache: FeatureCache | None = None,
    runner: TaskRunner | None = None,
) -> pd.DataFrame:
    """Features of many ROIs, over worker processes, with a cache and a progress bar.

    Identical tasks (same key) are extracted once; cached ones not at all. Workers are spawned
    (`workers.map_extractions`), so a script calling this with jobs != 1 needs the usual
    `if __name__ == "__main__":` guard.

    Args:
        tasks: the extractions, in the order of the returned rows.
        jobs: worker processes; 1 runs here, 0 means one per core.
        progress: show a progress bar (on stderr; log lines when it is no terminal) over the extractions.
        settings: PyRadiomics parameters; the shipped 2-D settings by default.
        cache: where to look features up first and store new ones (here, not on the workers).
        runner: extract on a cluster's workers instead (`radiomicgan.cluster.open_cluster`), one task
            per ROI; `jobs` is then unused. The values are the same as local ones.

    Returns:
        DataFrame [len(tasks), n_features] of float64, columns `feature_names(settings)`.
    """
    settings = _resolve(settings)
    names = _names(settings)
    keys = [feature_key(t.image_hu, t.mask, t.spacing_yx_mm, settings) for t in tasks]
    unique = dict(zip(keys, tasks, strict=True))  # first task per key; later duplicates share it
    found: dict[str, NDArray[np.float64]] = {}
    for key in unique:
        cached = cache.get(key, len(names)) if cache is not None else None
        if cached is not None:
            found[key] = cached
    todo = [key for key in unique if key not in found]
    vectors = _run_all([unique[k] for k in todo], jobs, progress, settings, runner)
    for key, vector in zip(todo, vectors, strict=True):
        found[key] = vector
        if cache is not None:
            cache.put(key, vector)
    table = np.array([found[k] for k in keys], dtype=np.float64).reshape(len(keys), len(names))
    return pd.DataFrame(table, columns=list(names))


def _run_all(
    tasks: list[FeatureTask],
    jobs: int,
    progress: bool,
    settings: RadiomicsSettings,
    runner: TaskRunner | None = None,
) -> list[NDArray[np.float64]]:
    results = []
    with progress_bar(total=len(tasks), desc="features", unit="roi", enabled=progress) as bar:
        for vector in map_extractions(_extract_vector, tasks, settings, jobs, runner):
            results.append(vector)
            bar.update()
    return results

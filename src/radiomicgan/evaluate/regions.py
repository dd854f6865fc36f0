"""PyRadiomics features of one labelled region: in 3-D, or slice by slice as true 2-D images.

A region is a boolean mask on a CT's grid. PyRadiomics filters (wavelet, LoG, ...) the image it is
given, so the image is first cut down to the region's bounding box plus a margin (`crop_box`): the
filters see `margin_sigmas` of the widest LoG sigma around the region, at least `min_margin_voxels`,
and an extraction costs the region's size, not the series'. The margin is clipped at the image's
edges, exactly as the whole image would be. (PyRadiomics scales its square, square root, logarithm
and exponential images by the largest |HU| of the image it is given: the box, as when PyRadiomics
crops before resampling.)

3-D (`RegionTask`): the region and its box go to PyRadiomics as one 3-D SimpleITK image with the
series' voxel spacing: 3-D texture matrices (13 directions), 3-D filters, the `shape` class.

Per slice (`--2d`): every axial slice the region touches is one true 2-D image (`FeatureTask`), the
same extraction the random-box evaluation runs (`features.extract_features`): in-plane filters and
texture, `shape2D`. A slice where the region spans a single row or column cannot be measured.

A region PyRadiomics refuses (a single voxel, a line) gets NaN features and a reason, never a silent
gap: `extract_task` returns the reason instead of the values.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk
from numpy.typing import NDArray

from radiomicgan.config import RegionFeatureConfig
from radiomicgan.evaluate.features import FeatureTask, extract_features, feature_names, roi_problem
from radiomicgan.evaluate.settings import RadiomicsSettings, cached_extractor

Box = tuple[slice, slice, slice]


@dataclass(frozen=True)
class RegionTask:
    """One 3-D extraction: an image box in HU, the region within it, and the voxel spacing (mm)."""

    image_hu: NDArray[np.float32]
    mask: NDArray[np.bool_]
    spacing_zyx_mm: tuple[float, float, float]


Task = RegionTask | FeatureTask
Outcome = dict[str, float] | str  # the features, or why PyRadiomics could not measure the region


def margin_voxels(
    settings: RadiomicsSettings, spacing_zyx_mm: tuple[float, float, float], config: RegionFeatureConfig
) -> tuple[int, int, int]:
    """Voxels of image kept on each side of a region along z, y, x (see the module docstring)."""
    widest_mm = max(settings.log_sigmas_mm, default=0.0) * config.margin_sigmas
    return (
        max(config.min_margin_voxels, math.ceil(widest_mm / spacing_zyx_mm[0])),
        max(config.min_margin_voxels, math.ceil(widest_mm / spacing_zyx_mm[1])),
        max(config.min_margin_voxels, math.ceil(widest_mm / spacing_zyx_mm[2])),
    )


def crop_box(mask: NDArray[np.bool_], margin_zyx: tuple[int, int, int]) -> Box:
    """The region's bounding box grown by the margin and clipped to the array.

    Raises:
        ValueError: the mask holds no voxel.
    """
    found = np.nonzero(mask)
    if found[0].size == 0:
        raise ValueError("the region holds no voxel")
    box = []
    for axis, margin in enumerate(margin_zyx):
        lo = max(0, int(found[axis].min()) - margin)
        hi = min(mask.shape[axis], int(found[axis].max()) + margin + 1)
        box.append(slice(lo, hi))
    return box[0], box[1], box[2]


def region_tasks(
    hu: NDArray[np.floating],
    mask: NDArray[np.bool_],
    spacing_zyx_mm: tuple[float, float, float],
    settings: RadiomicsSettings,
    config: RegionFeatureConfig,
) -> list[tuple[int | None, Task | str]]:
    """What to extract for one non-empty region: (slice index or None for 3-D, task or why not).

    Args:
        hu: [z, y, x] CT in HU. mask: [z, y, x] region on the CT's grid, with at least one voxel.
        spacing_zyx_mm: the CT's voxel spacing. settings: 3-D settings, or 2-D ones with `per_slice`.
        config: per slice or 3-D, and the margins.

    Returns:
        3-D: one (None, RegionTask). Per slice: one (z, FeatureTask) per slice the region touches, in
        slice order, or (z, reason) where the region's part of that slice cannot be measured.
    """
    margin = margin_voxels(settings, spacing_zyx_mm, config)
    box = crop_box(mask, margin)
    image = np.ascontiguousarray(hu[box], dtype=np.float32)
    region = np.ascontiguousarray(mask[box])
    if not config.per_slice:
        return [(None, RegionTask(image, region, spacing_zyx_mm))]
    spacing_yx = (spacing_zyx_mm[1], spacing_zyx_mm[2])
    tasks: list[tuple[int | None, Task | str]] = []
    for index in np.flatnonzero(region.any(axis=(1, 2))):
        problem = roi_problem(region[index])
        z = box[0].start + int(index)
        tasks.append((z, problem or FeatureTask(image[index], region[index], spacing_yx)))
    return tasks


def task_names(settings: RadiomicsSettings) -> tuple[str, ...]:
    """The feature columns of the settings: 3-D region features, or the 2-D ones with 2-D settings."""
    return tuple(feature_names(settings)) if settings.dimensions == 2 else _names_3d(settings)


def extract_task(task: Task, settings: RadiomicsSettings) -> Outcome:
    """The features of one task, or PyRadiomics' reason for refusing its region (a worker function)."""
    if isinstance(task, FeatureTask):
        return extract_features(task.image_hu, task.mask, task.spacing_yx_mm, settings)
    try:
        values = _run_3d(task.image_hu, task.mask, task.spacing_zyx_mm, settings)
    except ValueError as exc:  # PyRadiomics' checkMask: a single voxel, too few dimensions, ...
        return " ".join(str(exc).split()) or type(exc).__name__
    names = _names_3d(settings)
    if set(values) != set(names):
        odd = sorted(set(names) ^ set(values))[:3]
        raise RuntimeError(f"PyRadiomics returned {len(values)} features, expected {len(names)}: {odd}")
    return {name: values[name] for name in names}


@functools.lru_cache(maxsize=4)
def _names_3d(settings: RadiomicsSettings) -> tuple[str, ...]:
    # PyRadiomics names derived images internally; extracting once from a probe is the exact list.
    # A ramp with noise (many grey levels in every filter) and a ball well inside the image.
    side = max(24, 2 * math.ceil(max(settings.log_sigmas_mm, default=1.0)) + 8)
    z, y, x = np.mgrid[:side, :side, :side]
    noise = np.random.default_rng(0).normal(0.0, 30.0, z.shape)
    image = (x * 7.0 + y * 3.0 + z - 300.0 + noise).astype(np.float32)
    ball = (z - side / 2) ** 2 + (y - side / 2) ** 2 + (x - side / 2) ** 2 <= 16.0
    return tuple(_run_3d(image, ball, (1.0, 1.0, 1.0), settings))


def _run_3d(
    image_hu: NDArray[Any],
    mask: NDArray[Any],
    spacing_zyx_mm: tuple[float, float, float],
    settings: RadiomicsSettings,
) -> dict[str, float]:
    image = sitk.GetImageFromArray(np.asarray(image_hu, dtype=np.float32))
    region = sitk.GetImageFromArray(np.asarray(mask, dtype=np.uint8))
    spacing_xyz = (float(spacing_zyx_mm[2]), float(spacing_zyx_mm[1]), float(spacing_zyx_mm[0]))
    image.SetSpacing(spacing_xyz)  # type: ignore[no-untyped-call]
    region.SetSpacing(spacing_xyz)  # type: ignore[no-untyped-call]
    with warnings.catch_warnings():
        # scikit-image warns that LBP on float images is sensitive to tiny differences; HU are coarse.
        warnings.filterwarnings("ignore", message=".*local_binary_pattern.*", category=UserWarning)
        result = cached_extractor(settings).execute(image, region)
    return {k: float(v) for k, v in result.items() if not k.startswith("diagnostics_")}

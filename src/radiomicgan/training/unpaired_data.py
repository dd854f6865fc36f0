"""Unpaired training slices (`train --unpaired`): source and target series of different scans.

The non-standard (source) and standard (target) series come from different patients, studies or
scanners, any number of each: nothing is paired, and no study or frame of reference is compared.
What one model needs of them is checked instead:

- every target series has the one standard kernel (when the headers say so);
- one pixel grid: the model learns its conversion per pixel (`radiomicgan.spacing`), so every series
  is resampled to the first target series' pixel spacing (when it differs by more than rounding,
  `SpacingTolerance.same`) and centred on its matrix, padded with air or cut at the edges. The model
  file records that spacing, so `harmonize --resample` brings other series to it and back.

Slices stay integer HU (rounded after resampling), as in paired training. A source crop and a
target crop are drawn independently (`sample_unpaired_crops`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from radiomicgan.errors import InputError
from radiomicgan.io import Volume, read_volume
from radiomicgan.io.convolution_kernel import kernel_key, kernel_text
from radiomicgan.spacing import (
    AIR_HU as OUTSIDE_HU,
)
from radiomicgan.spacing import (
    TrainingGeometry,
    describe_spacing,
    needs_resampling,
    pixel_spacing,
    resample_slices,
)
from radiomicgan.training.data import AIR_HU, PairedSlices, manufacturer_of, shared_manufacturer

log = logging.getLogger(__name__)

FloatStack = NDArray[np.float32]
IndexArray = NDArray[np.int64]


@dataclass(frozen=True)
class UnpairedSlices:
    """Slices of the two kernels, stacked each on its own: nothing pairs the i-th of one with the other's.

    Attributes:
        source_hu: float32 [n, y, x], integer-valued HU of the non-standard kernel.
        target_hu: float32 [m, y, x], the standard kernel, other scans, the same grid.
        source_scan: int [n], which source series each source slice came from.
        target_scan: int [m], which target series each target slice came from.
        source_kernel: the source series' ConvolutionKernel ("" when unknown or mixed).
        target_kernel: the target series' ConvolutionKernel ("" when unknown).
        geometry: the common grid, as the model file records it.
        manufacturer: Manufacturer of the source series ("" when unknown or mixed), for the registry.
    """

    source_hu: FloatStack
    target_hu: FloatStack
    source_scan: IndexArray
    target_scan: IndexArray
    source_kernel: str = ""
    target_kernel: str = ""
    geometry: TrainingGeometry | None = None
    manufacturer: str = ""

    def __len__(self) -> int:
        """The source slices: what a model harmonizes."""
        return int(self.source_hu.shape[0])

    def take(self, source_indices: IndexArray, target_indices: IndexArray) -> UnpairedSlices:
        """The source slices at `source_indices` and the target slices at `target_indices`."""
        return UnpairedSlices(
            self.source_hu[source_indices],
            self.target_hu[target_indices],
            self.source_scan[source_indices],
            self.target_scan[target_indices],
            self.source_kernel,
            self.target_kernel,
            self.geometry,
            self.manufacturer,
        )


TrainingSlices = PairedSlices | UnpairedSlices


@dataclass(frozen=True)
class UnpairedSplit:
    """The unpaired slices of one run: training, the held-out blocks, and their scored subset."""

    train: UnpairedSlices
    held_out: UnpairedSlices
    val: UnpairedSlices


def load_unpaired_slices(sources: Sequence[Path], targets: Sequence[Path]) -> UnpairedSlices:
    """Read every series, check the kernels, and bring all slices to the first target series' grid.

    Raises:
        InputError: no source or no target series; a series cannot be read or is not CT
            (`read_volume`); a target series whose kernel differs from the other targets'.
    """
    if not sources or not targets:
        missing = "--source" if not sources else "--target"
        raise InputError(".", f"unpaired training needs at least one {missing} series")
    target_volumes = [read_volume(path) for path in targets]
    standard = _check_target_kernels(targets, target_volumes)
    reference = target_volumes[0]
    spacing_mm = pixel_spacing(reference.spacing_zyx_mm)
    shape = (reference.shape[1], reference.shape[2])
    target_stacks = [_on_grid(v, p, spacing_mm, shape) for v, p in zip(target_volumes, targets, strict=True)]
    source_stacks: list[FloatStack] = []
    source_kernels: list[str] = []
    manufacturers: list[str] = []
    for path in sources:  # one at a time: only the resampled stacks are kept
        volume = read_volume(path)
        if standard and kernel_key(volume.meta.kernel) == kernel_key(standard):
            # not refused: scanners of one vendor share kernel names, and their images still differ
            log.warning(
                "%s has the target series' kernel %s: the model learns what else differs", path,
                kernel_text(standard),
            )  # fmt: skip
        source_stacks.append(_on_grid(volume, path, spacing_mm, shape))
        source_kernels.append(volume.meta.kernel)
        manufacturers.append(manufacturer_of(volume))
    log.info(
        "unpaired training: %d source series (%d slices), %d target series (%d slices), %s pixels",
        len(sources), sum(len(s) for s in source_stacks), len(targets), sum(len(t) for t in target_stacks),
        describe_spacing(spacing_mm),
    )  # fmt: skip
    slice_mm = float(np.mean([v.spacing_zyx_mm[0] for v in target_volumes]))
    geometry = TrainingGeometry(spacing_mm, slice_mm, (shape[0] * spacing_mm[0], shape[1] * spacing_mm[1]))
    return UnpairedSlices(
        np.concatenate(source_stacks),
        np.concatenate(target_stacks),
        _scan_index(source_stacks),
        _scan_index(target_stacks),
        _source_kernel(source_kernels),
        standard,
        geometry,
        shared_manufacturer(manufacturers),
    )


def _check_target_kernels(paths: Sequence[Path], volumes: list[Volume]) -> str:
    """The standard kernel the target series share ("" when none says); refuses one that differs."""
    first: tuple[Path, str] | None = None
    for path, volume in zip(paths, volumes, strict=True):
        kernel = volume.meta.kernel
        if not kernel_key(kernel):
            continue  # no kernel in its headers (NRRD, NIfTI): nothing to compare
        if first is None:
            first = (path, kernel)
        elif kernel_key(kernel) != kernel_key(first[1]):
            raise InputError(
                path,
                f"kernel {kernel_text(kernel)} differs from {kernel_text(first[1])} of target series "
                f"{first[0]}: the target series must share one standard kernel",
            )
    return first[1] if first else ""


def _source_kernel(kernels: list[str]) -> str:
    known = {kernel_key(k) for k in kernels}
    if len(known) > 1:
        shown = ", ".join(sorted({kernel_text(k) or "unknown" for k in kernels}))
        log.info("source series have different kernels (%s): none is recorded", shown)
        return ""
    return kernels[0] if kernels else ""


def _on_grid(
    volume: Volume, path: Path, spacing_mm: tuple[float, float], shape: tuple[int, int]
) -> FloatStack:
    """The volume's slices on the common grid: resampled to `spacing_mm`, centred on `shape`."""
    own_mm = pixel_spacing(volume.spacing_zyx_mm)
    hu = volume.hu.astype(np.float32)
    if needs_resampling(own_mm, spacing_mm):
        log.info(
            "%s: pixels %s resampled to %s", path, describe_spacing(own_mm), describe_spacing(spacing_mm)
        )
        hu = resample_slices(hu, own_mm, spacing_mm, shape)  # about the centre, air beyond the edges
    elif hu.shape[1:] != shape:
        log.info("%s: %dx%d slices centred on %dx%d", path, *hu.shape[1:], *shape)
        hu = _centred(hu, shape)
    return np.round(hu).astype(np.float32)


def _centred(hu: FloatStack, shape: tuple[int, int]) -> FloatStack:
    """Slices cut or padded (with air) about their centre to `shape`."""
    out = np.full((hu.shape[0], *shape), OUTSIDE_HU, dtype=np.float32)
    spans = []
    for old, new in zip(hu.shape[1:], shape, strict=True):
        start_old, start_new = max(0, (old - new) // 2), max(0, (new - old) // 2)
        length = min(old, new)
        spans.append((slice(start_old, start_old + length), slice(start_new, start_new + length)))
    (rows_old, rows_new), (cols_old, cols_new) = spans
    out[:, rows_new, cols_new] = hu[:, rows_old, cols_old]
    return out


def _scan_index(stacks: list[FloatStack]) -> IndexArray:
    return np.concatenate([np.full(len(s), i, dtype=np.int64) for i, s in enumerate(stacks)])


def split_unpaired(data: UnpairedSlices, fraction: float) -> tuple[UnpairedSlices, UnpairedSlices]:
    """Hold out the last `fraction` of each series' slices, source and target alike (as
    `data.split_validation` does for each scan)."""
    source_train, source_val = _split_scans(data.source_scan, fraction)
    target_train, target_val = _split_scans(data.target_scan, fraction)
    return data.take(source_train, target_train), data.take(source_val, target_val)


def _split_scans(scan_index: IndexArray, fraction: float) -> tuple[IndexArray, IndexArray]:
    train: list[int] = []
    val: list[int] = []
    for scan in np.unique(scan_index):
        idx = np.flatnonzero(scan_index == scan)
        n_val = 0 if fraction <= 0 else max(1, round(fraction * len(idx)))
        n_val = min(n_val, len(idx) - 1)
        train.extend(idx[: len(idx) - n_val])
        val.extend(idx[len(idx) - n_val :])
    return np.asarray(train, dtype=np.int64), np.asarray(val, dtype=np.int64)


def unpaired_validation_subset(val: UnpairedSlices, max_slices: int) -> UnpairedSlices:
    """At most `max_slices` source and as many target slices, evenly spread over the held-out blocks."""
    return val.take(_spread(len(val.source_hu), max_slices), _spread(len(val.target_hu), max_slices))


def _spread(n: int, max_slices: int) -> IndexArray:
    if n <= max_slices:
        return np.arange(n, dtype=np.int64)
    return np.linspace(0, n - 1, max_slices).round().astype(np.int64)


def sample_unpaired_crops(
    data: UnpairedSlices,
    batch_size: int,
    crop_px: int,
    rng: np.random.Generator,
    *,
    multiple: int = 1,
    attempts: int = 10,
) -> tuple[FloatStack, FloatStack]:
    """`batch_size` random source crops and, drawn independently, as many target crops (HU).

    As `data.sample_crops`: a crop mostly below `AIR_HU` is redrawn up to `attempts` times, and a crop
    no smaller than the slices is the whole slice cut to a multiple of `multiple`.

    Raises:
        ValueError: the slices are smaller than `multiple`.
    """
    height, width = data.source_hu.shape[1:]
    crop_y = min(crop_px, height) // multiple * multiple
    crop_x = min(crop_px, width) // multiple * multiple
    if not crop_y or not crop_x:
        raise ValueError(f"slices of {height}x{width} px are smaller than the size multiple {multiple}")
    source = np.stack([_crop(data.source_hu, crop_y, crop_x, rng, attempts) for _ in range(batch_size)])
    target = np.stack([_crop(data.target_hu, crop_y, crop_x, rng, attempts) for _ in range(batch_size)])
    return source, target


def _crop(stack: FloatStack, crop_y: int, crop_x: int, rng: np.random.Generator, attempts: int) -> FloatStack:
    n, height, width = stack.shape
    for _ in range(attempts):
        i = int(rng.integers(n))
        y = int(rng.integers(height - crop_y + 1))
        x = int(rng.integers(width - crop_x + 1))
        crop = stack[i, y : y + crop_y, x : x + crop_x]
        if np.mean(crop > AIR_HU) >= 0.5:
            break
    return crop

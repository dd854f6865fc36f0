"""Paired training slices: read each (non-standard, standard) scan, pair it, split, and crop.

Inputs stay integer HU, as DICOM stores them; windowing to [0, 1] happens per epoch, because the
window changes during Dynamic Window-based Training.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from radiomicgan.config import SpacingTolerance
from radiomicgan.errors import PairingError
from radiomicgan.io import Volume, pair_volumes, read_volume
from radiomicgan.io.convolution_kernel import kernel_key, kernel_text
from radiomicgan.spacing import TrainingGeometry, describe_spacing, spacing_deviation

log = logging.getLogger(__name__)

AIR_HU = -900.0  # crops mostly below this carry no texture to learn from


@dataclass(frozen=True)
class PairedSlices:
    """Matched slices of one or more scans, stacked: source (non-standard) and target (standard).

    Attributes:
        source_hu: float32 [n, y, x], integer-valued HU of the non-standard kernel.
        target_hu: float32 [n, y, x], the standard kernel at the same positions.
        scan_index: int [n], which scan (pair of series) each slice came from.
        source_kernel: ConvolutionKernel of the source series ("" when unknown or mixed).
        target_kernel: ConvolutionKernel of the target series ("" when unknown or mixed).
        geometry: the training scans' pixel spacing, slice spacing and field of view, as the model
            file records them (`radiomicgan.spacing` checks a series against them); None when unknown.
        manufacturer: Manufacturer of the source series ("" when unknown or mixed): the scanner the
            model learned to convert from, which the model registry matches series by.
    """

    source_hu: NDArray[np.float32]
    target_hu: NDArray[np.float32]
    scan_index: NDArray[np.int64]
    source_kernel: str = ""
    target_kernel: str = ""
    geometry: TrainingGeometry | None = None
    manufacturer: str = ""

    def __len__(self) -> int:
        return int(self.source_hu.shape[0])

    def take(self, indices: NDArray[np.int64]) -> PairedSlices:
        """The slices at `indices`, keeping the kernels."""
        return PairedSlices(
            self.source_hu[indices],
            self.target_hu[indices],
            self.scan_index[indices],
            self.source_kernel,
            self.target_kernel,
            self.geometry,
            self.manufacturer,
        )


def load_paired_slices(pairs: Sequence[tuple[Path, Path]]) -> PairedSlices:
    """Read and pair each (source, target) scan and stack their matched slices.

    Every scan must have the in-plane size of the first (crops and batches need one size) and a pixel
    spacing within `SpacingTolerance.warn` of the first: the model learns its conversion per pixel, so
    one model cannot be right at two spacings that far apart (resample such series to one spacing).

    Raises:
        InputError: a series cannot be read, the two are not a pair, the sizes differ, or the pixel
            spacings lie too far apart.
    """
    sources: list[NDArray[np.float32]] = []
    targets: list[NDArray[np.float32]] = []
    scans: list[NDArray[np.int64]] = []
    source_kernels: list[str] = []
    target_kernels: list[str] = []
    geometries: list[TrainingGeometry] = []
    manufacturers: list[str] = []
    for scan, (source_path, target_path) in enumerate(pairs):
        source, target = read_volume(source_path), read_volume(target_path)
        pair = pair_volumes(source, target)
        src = np.round(source.hu[list(pair.source_indices)])
        tgt = np.round(target.hu[list(pair.target_indices)])
        if sources and src.shape[1:] != sources[0].shape[1:]:
            raise PairingError(source_path, f"slice size {src.shape[1:]} differs from {sources[0].shape[1:]}")
        geometries.append(_geometry_of(source, source_path, geometries))
        sources.append(src.astype(np.float32))
        targets.append(tgt.astype(np.float32))
        scans.append(np.full(len(src), scan, dtype=np.int64))
        source_kernels.append(source.meta.kernel)
        target_kernels.append(target.meta.kernel)
        manufacturers.append(manufacturer_of(source))
    log.info("training pairs: %d scans, %d matched slices", len(pairs), sum(len(s) for s in sources))
    return PairedSlices(
        np.concatenate(sources),
        np.concatenate(targets),
        np.concatenate(scans),
        _single(source_kernels),
        _single(target_kernels),
        _mean_geometry(geometries),
        shared_manufacturer(manufacturers),
    )


def _geometry_of(volume: Volume, path: Path, earlier: list[TrainingGeometry]) -> TrainingGeometry:
    geometry = TrainingGeometry.of(volume)
    if earlier:
        first = earlier[0].pixel_spacing_mm
        if spacing_deviation(geometry.pixel_spacing_mm, first) > SpacingTolerance().warn:
            raise PairingError(
                path,
                f"pixel spacing {describe_spacing(geometry.pixel_spacing_mm)} differs from the first "
                f"training series' {describe_spacing(first)}; resample the series to one spacing first",
            )
    return geometry


def _mean_geometry(geometries: list[TrainingGeometry]) -> TrainingGeometry | None:
    if not geometries:
        return None
    spacings = [spacing for g in geometries for spacing in g.pixel_spacing_mm]
    if max(spacings) > SpacingTolerance().same * min(spacings):
        log.info(
            "training pixel spacings range from %.3f to %.3f mm; the model records their mean",
            min(spacings),
            max(spacings),
        )
    return TrainingGeometry.mean(geometries)


def _single(kernels: list[str]) -> str:
    """The kernel every series shares (the first one's spelling), "" when they differ or none is known."""
    if len({kernel_key(k) for k in kernels}) > 1:
        log.info("training series have different kernels (%s): none is recorded", _shown(kernels))
        return ""
    return kernels[0] if kernels else ""


def _shown(kernels: list[str]) -> str:
    return ", ".join(sorted({kernel_text(k) or "unknown" for k in kernels}))


@dataclass(frozen=True)
class Split:
    """The paired slices of one run: training, the whole held-out block, and its scored subset."""

    train: PairedSlices
    held_out: PairedSlices
    val: PairedSlices


def split_validation(data: PairedSlices, fraction: float) -> tuple[PairedSlices, PairedSlices]:
    """Hold out the last `fraction` of each scan's slices (at least one when fraction > 0) for validation.

    A contiguous block, not random slices: neighbouring slices look alike, so random hold-outs would
    measure memory rather than generalization.
    """
    train_idx: list[int] = []
    val_idx: list[int] = []
    for scan in np.unique(data.scan_index):
        idx = np.flatnonzero(data.scan_index == scan)
        n_val = 0 if fraction <= 0 else max(1, round(fraction * len(idx)))
        n_val = min(n_val, len(idx) - 1)
        train_idx.extend(idx[: len(idx) - n_val])
        val_idx.extend(idx[len(idx) - n_val :])
    return data.take(np.asarray(train_idx, dtype=np.int64)), data.take(np.asarray(val_idx, dtype=np.int64))


def sample_crops(
    data: PairedSlices,
    batch_size: int,
    crop_px: int,
    rng: np.random.Generator,
    *,
    multiple: int = 1,
    attempts: int = 10,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """A batch of co-located random crops, [batch, crop, crop] for source and target (HU).

    A crop that is mostly air is redrawn up to `attempts` times. With `crop_px` at least the slice
    size, whole slices are returned, cut down to a multiple of `multiple` (the generator's size
    multiple) on each side.

    Raises:
        ValueError: the slices are smaller than `multiple`.
    """
    n, height, width = data.source_hu.shape
    crop_y = min(crop_px, height) // multiple * multiple
    crop_x = min(crop_px, width) // multiple * multiple
    if not crop_y or not crop_x:
        raise ValueError(f"slices of {height}x{width} px are smaller than the size multiple {multiple}")
    sources = np.empty((batch_size, crop_y, crop_x), dtype=np.float32)
    targets = np.empty_like(sources)
    for b in range(batch_size):
        for _ in range(attempts):
            i = int(rng.integers(n))
            y = int(rng.integers(height - crop_y + 1))
            x = int(rng.integers(width - crop_x + 1))
            crop = data.source_hu[i, y : y + crop_y, x : x + crop_x]
            if np.mean(crop > AIR_HU) >= 0.5:
                break
        sources[b] = crop
        targets[b] = data.target_hu[i, y : y + crop_y, x : x + crop_x]
    return sources, targets


def manufacturer_of(volume: Volume) -> str:
    """The source series' Manufacturer (0008,0070), stripped; "" for NRRD/NIfTI or when absent."""
    first = volume.datasets[0] if volume.datasets else None
    return str(first.get("Manufacturer", "") or "").strip() if first is not None else ""


def shared_manufacturer(manufacturers: list[str]) -> str:
    """The manufacturer every source series shares (case ignored), "" when they differ or none is known.

    A model trained on several vendors' scans is not tied to one: "" lets the registry match any.
    """
    if len({m.casefold() for m in manufacturers}) > 1:
        log.info("training series come from several manufacturers: none is recorded")
        return ""
    return manufacturers[0] if manufacturers else ""

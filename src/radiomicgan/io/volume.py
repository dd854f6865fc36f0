"""The one in-memory type every reader returns and every writer takes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

SourceFormat = Literal["dicom", "nrrd", "nifti", "memory"]


@dataclass(frozen=True)
class SeriesMeta:
    """Identity of a series, as far as pairing, naming and provenance need it.

    UIDs are empty strings when the source format has none (NRRD, NIfTI, arrays).
    """

    study_uid: str = ""
    frame_of_reference_uid: str = ""
    series_uid: str = ""
    kernel: str = ""
    modality: str = "CT"
    description: str = ""


@dataclass
class Volume:
    """A CT volume in Hounsfield units with its patient-space geometry.

    Attributes:
        hu: float32 array [z, y, x] in HU (rescale slope and intercept already applied).
        spacing_zyx_mm: voxel spacing along the array axes (slice, row, column), in mm.
        origin_xyz_mm: patient (LPS) position of voxel [0, 0, 0], in mm, as ITK and DICOM give it.
        direction: 3x3 matrix whose columns are the LPS unit vectors of the array's x (column),
            y (row) and z (slice) axes; the same convention as ITK's direction matrix.
        meta: study, frame of reference, series and kernel identity.
        datasets: for DICOM input, each slice's source dataset without pixel data (slice order),
            carried over by the DICOM writer; None for other formats.
        source_path: the file or folder the volume came from, if any.
        source_format: "dicom", "nrrd", "nifti" or "memory".
    """

    hu: NDArray[np.float32]
    spacing_zyx_mm: tuple[float, float, float]
    origin_xyz_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: NDArray[np.float64] = field(default_factory=lambda: np.eye(3))
    meta: SeriesMeta = field(default_factory=SeriesMeta)
    datasets: list[Dataset] | None = None
    source_path: Path | None = None
    source_format: SourceFormat = "memory"

    def __post_init__(self) -> None:
        if self.hu.ndim != 3:
            raise ValueError(f"Volume.hu must be 3-D [z, y, x], got shape {self.hu.shape}")
        if self.hu.dtype != np.float32:
            self.hu = self.hu.astype(np.float32)
        if self.datasets is not None and len(self.datasets) != self.hu.shape[0]:
            raise ValueError(f"{len(self.datasets)} source datasets for {self.hu.shape[0]} slices")

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape (slices, rows, columns)."""
        z, y, x = self.hu.shape
        return int(z), int(y), int(x)

    def slice_positions_xyz_mm(self) -> NDArray[np.float64]:
        """Patient position (LPS, mm) of the first voxel of every slice, shape [z, 3]."""
        return slice_positions_xyz_mm(
            self.origin_xyz_mm, self.direction, self.spacing_zyx_mm[0], self.shape[0]
        )

    def with_hu(self, hu: NDArray[np.float32], *, meta: SeriesMeta | None = None) -> Volume:
        """A new volume with the same geometry and provenance but other voxel values."""
        if hu.shape != self.hu.shape:
            raise ValueError(f"shape {hu.shape} differs from the volume's {self.hu.shape}")
        return replace(self, hu=hu.astype(np.float32, copy=False), meta=meta or self.meta)

    def subset(self, slice_indices: list[int] | NDArray[np.int64]) -> Volume:
        """The volume restricted to some slices, in the given order (evenly spaced ones to write it)."""
        idx = [int(i) for i in slice_indices]
        datasets = None if self.datasets is None else [self.datasets[i] for i in idx]
        positions = self.slice_positions_xyz_mm()
        origin = tuple(float(v) for v in positions[idx[0]]) if idx else self.origin_xyz_mm
        spacing = self.spacing_zyx_mm
        if len(idx) > 1:
            step = float(np.linalg.norm(positions[idx[1]] - positions[idx[0]]))
            spacing = (step, spacing[1], spacing[2])
        return replace(
            self,
            hu=self.hu[idx],
            datasets=datasets,
            origin_xyz_mm=(origin[0], origin[1], origin[2]),
            spacing_zyx_mm=spacing,
        )


def slice_positions_xyz_mm(
    origin_xyz_mm: tuple[float, float, float], direction: NDArray[np.float64], step_mm: float, slices: int
) -> NDArray[np.float64]:
    """Patient position (LPS, mm) of the first voxel of each of `slices` evenly spaced slices, [z, 3].

    Args:
        origin_xyz_mm: position of the first slice's first voxel.
        direction: 3x3 matrix whose third column is the slice normal.
        step_mm: distance between neighbouring slices along the normal.
        slices: how many slices.
    """
    steps = np.arange(slices, dtype=np.float64)[:, None]
    normal = np.asarray(direction, dtype=np.float64)[:, 2] * step_mm
    return np.asarray(origin_xyz_mm, dtype=np.float64)[None, :] + steps * normal[None, :]

"""The known mask the mask readers' tests read back: a sphere and a cube with a hole, on a small CT."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from radiomicgan.io import Volume

SPHERE, CUBE = 1, 2


@dataclass(frozen=True)
class MaskCase:
    """The CT (read back from its DICOM files) and the known labels on its grid.

    Attributes:
        ct_folder: the written series.
        ct: the series as `read_volume` gives it (with its datasets).
        labels: int16 [z, y, x]: 0 background, 1 a sphere, 2 a cube with a hole through it along z.
    """

    ct_folder: Path
    ct: Volume
    labels: NDArray[np.int16]

    def label_volume(self, labels: NDArray[np.int16] | None = None) -> Volume:
        """The labels (or others) as a Volume on the CT's grid, to write as NRRD or NIfTI."""
        return Volume(
            hu=(self.labels if labels is None else labels).astype(np.float32),
            spacing_zyx_mm=self.ct.spacing_zyx_mm,
            origin_xyz_mm=self.ct.origin_xyz_mm,
            direction=self.ct.direction.copy(),
        )


def known_labels(
    shape: tuple[int, int, int], spacing_zyx_mm: tuple[float, float, float]
) -> NDArray[np.int16]:
    """A sphere of radius 6 mm (label 1) and a cube with a square tunnel along z (label 2).

    The tunnel makes a hole in every slice of the cube: a contour inside a contour.
    """
    z, y, x = np.indices(shape, dtype=np.float64)
    sz, sy, sx = spacing_zyx_mm
    labels = np.zeros(shape, dtype=np.int16)
    inside = ((z - 5) * sz) ** 2 + ((y - 11) * sy) ** 2 + ((x - 12) * sx) ** 2 <= 6.0**2
    labels[inside] = SPHERE
    labels[3:10, 22:35, 20:34] = CUBE
    labels[3:10, 26:30, 25:29] = 0
    return labels

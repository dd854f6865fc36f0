"""The regions a mask file holds, each a boolean mask on the reference CT's grid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from radiomicgan.errors import InputError

MaskFormat = Literal["nrrd", "nifti", "seg", "rtstruct"]


@dataclass(frozen=True)
class Region:
    """One labelled region of a mask file.

    Attributes:
        number: its label value (label volume), SegmentNumber (DICOM SEG) or ROINumber (RTSTRUCT).
        name: its SegmentLabel, ROIName or a label volume's segment name, else f"label {number}".
        mask: boolean [z, y, x] on the reference CT's grid (the shape of `reference.hu`); it may
            be all False when the region lies outside this grid: the caller reports it.
    """

    number: int
    name: str
    mask: NDArray[np.bool_]

    @property
    def voxels(self) -> int:
        """How many voxels the region covers on the CT's grid."""
        return int(np.count_nonzero(self.mask))


@dataclass(frozen=True)
class RegionSet:
    """The regions read from one mask file, in the file's order (label values ascending).

    Attributes:
        regions: one per label, segment or ROI, empty ones included.
        source_path: the mask file.
        source_format: "nrrd", "nifti", "seg" or "rtstruct".
    """

    regions: tuple[Region, ...]
    source_path: Path
    source_format: MaskFormat

    def select(self, wanted: Sequence[str]) -> RegionSet:
        """The regions named in `wanted`, in that order, each once.

        Args:
            wanted: region names (exact, case-sensitive) or numbers written as text ("2"); a name
                is matched first, so a region named "2" wins over region number 2.

        Returns:
            A set of the chosen regions, from the same file.

        Raises:
            InputError: an item matches no region; the message lists the regions there are.
        """
        chosen: list[Region] = []
        for item in [wanted] if isinstance(wanted, str) else wanted:  # one name, not its letters
            matches = [r for r in self.regions if r.name == item]
            if not matches and item.strip().isdigit():
                matches = [r for r in self.regions if r.number == int(item)]
            if not matches:
                raise InputError(self.source_path, f"no region {item!r} (regions: {self.listing()})")
            chosen += [r for r in matches if not any(r is c for c in chosen)]
        return replace(self, regions=tuple(chosen))

    def listing(self) -> str:
        """The regions as "1 liver, 2 tumour" for messages."""
        return ", ".join(f"{r.number} {r.name}" for r in self.regions) or "none"

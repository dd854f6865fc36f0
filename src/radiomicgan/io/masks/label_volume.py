"""Label volumes (NRRD, NIfTI): each distinct non-zero integer value is a region.

3D Slicer's `.seg.nrrd` files name their segments in the header (`Segment0_Name`,
`Segment0_LabelValue`, `Segment0_Layer`); overlapping segments are stored there as several layers,
one voxel component each. Those names are used when present; other labels are "label N".
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as _sitk
from numpy.typing import NDArray

from radiomicgan.errors import InputError
from radiomicgan.io.itk_formats import itk_format
from radiomicgan.io.masks.grid import Grid
from radiomicgan.io.masks.regions import Region, RegionSet
from radiomicgan.io.volume import Volume

logger = logging.getLogger(__name__)
sitk: Any = _sitk  # untyped, as in io.itk_formats

_SEGMENT_KEY = re.compile(r"^Segment(\d+)_(Name|LabelValue|Layer)$")


@dataclass(frozen=True)
class _Segment:
    """One Slicer segment: its name, label value and layer (voxel component)."""

    name: str
    label: int
    layer: int


def read_label_volume(path: Path, reference: Volume, *, resample: bool = False) -> RegionSet:
    """Read a NRRD or NIfTI label volume as regions on the reference CT's grid.

    Args:
        path: a .nrrd, .nhdr, .nii or .nii.gz file of integer labels (0 = background).
        reference: the CT whose grid the masks are on.
        resample: put a label volume of another grid onto the CT's (nearest neighbour);
            without it a grid mismatch is an error.

    Returns:
        One region per non-zero label value (per Slicer segment when the header names them),
        ascending; a label that resampling loses stays, empty.

    Raises:
        InputError: unreadable, not integer labels, no non-zero voxel, or another grid than the
            CT's without `resample` (the message gives both grids).
    """
    fmt = itk_format(path)
    if fmt is None:
        raise InputError(path, "not a .nrrd, .nhdr, .nii or .nii.gz file")
    image = _read_image(path)
    labels = sitk.GetArrayFromImage(image)  # [z, y, x] or [z, y, x, layer]
    _check_integer(labels, path)
    if not labels.any():
        raise InputError(path, "no region: every voxel is 0")
    segments = _segments(image, labels, path)
    target = Grid.of(reference)
    own = _grid(image)
    if not own.matches(target):
        if not resample:
            raise InputError(
                path,
                f"label grid {own.describe()} differs from the CT's {target.describe()}; "
                "resample it onto the CT's grid with --resample (resample=True)",
            )
        logger.info("resampling %s onto the CT's grid (nearest neighbour)", path.name)
        labels = sitk.GetArrayFromImage(_resample(image, target))
    if labels.ndim == 3:
        labels = labels[..., None]
    regions = tuple(
        Region(number=s.label, name=s.name, mask=labels[..., s.layer] == s.label) for s in segments
    )
    return RegionSet(regions=regions, source_path=path, source_format=fmt)


def _read_image(path: Path) -> Any:
    if not path.is_file():
        raise InputError(path, "does not exist")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:  # SimpleITK reports every read failure as RuntimeError
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        raise InputError(path, f"cannot read label volume ({lines[-1] if lines else 'unknown'})") from exc
    if image.GetDimension() == 2:
        image = sitk.JoinSeries(image)
    if image.GetDimension() != 3:
        raise InputError(path, f"{image.GetDimension()}-D image; a label volume is 3-D")
    return image


def _check_integer(labels: NDArray[Any], path: Path) -> None:
    if np.issubdtype(labels.dtype, np.integer):
        return
    if not np.issubdtype(labels.dtype, np.floating) or not np.array_equal(labels, np.rint(labels)):
        raise InputError(path, "not a label volume: its voxels are not whole numbers")


def _segments(image: Any, labels: NDArray[Any], path: Path) -> list[_Segment]:
    """The segments a Slicer header describes (empty ones too), plus "label N" per other value."""
    fields: dict[int, dict[str, str]] = {}
    for key in image.GetMetaDataKeys():
        match = _SEGMENT_KEY.match(key)
        if match:
            fields.setdefault(int(match[1]), {})[match[2]] = image.GetMetaData(key).strip()
    layers = labels.shape[3] if labels.ndim == 4 else 1
    named: list[_Segment] = []
    for index in sorted(fields):
        described = fields[index]
        try:
            segment = _Segment(
                name=described.get("Name") or f"segment {index}",
                label=int(described.get("LabelValue", "1")),
                layer=int(described.get("Layer", "0")),
            )
        except ValueError as exc:
            raise InputError(path, f"segment {index}: label value or layer is not a whole number") from exc
        if not 0 <= segment.layer < layers:
            raise InputError(path, f"segment {index} is on layer {segment.layer}; the file has {layers}")
        named.append(segment)
    if layers > 1 and not named:
        raise InputError(path, f"{layers} components per voxel and no segment names: not a label volume")
    described_labels = {s.label for s in named if s.layer == 0}
    first_layer = labels[..., 0] if labels.ndim == 4 else labels
    values = [int(v) for v in np.unique(first_layer) if v != 0 and int(v) not in described_labels]
    undescribed = [_Segment(f"label {v}", v, 0) for v in values]
    return sorted([*named, *undescribed], key=lambda s: (s.layer, s.label))


def _grid(image: Any) -> Grid:
    sx, sy, sz = image.GetSize()
    spacing = image.GetSpacing()
    ox, oy, oz = image.GetOrigin()
    return Grid(
        shape=(int(sz), int(sy), int(sx)),
        spacing_zyx_mm=(float(spacing[2]), float(spacing[1]), float(spacing[0])),
        origin_xyz_mm=(float(ox), float(oy), float(oz)),
        direction=np.array(image.GetDirection(), dtype=np.float64).reshape(3, 3),
    )


def _resample(image: Any, target: Grid) -> Any:
    """The label image on `target`'s grid, nearest neighbour, 0 outside its own extent."""
    reference = sitk.Image([target.shape[2], target.shape[1], target.shape[0]], sitk.sitkUInt8)
    reference.SetSpacing(tuple(float(v) for v in reversed(target.spacing_zyx_mm)))
    reference.SetOrigin(tuple(float(v) for v in target.origin_xyz_mm))
    reference.SetDirection(tuple(float(v) for v in target.direction.ravel()))
    return sitk.Resample(image, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0)

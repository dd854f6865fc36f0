"""DICOM Segmentation objects (SEG), read with highdicom onto the reference CT's grid.

Each segment is a region named by its SegmentLabel. Frames are placed on the CT's slices by the
CT instance each was derived from when every frame names one (with its spatial locations
preserved), as SEG writers do; otherwise by their plane positions, which must then lie on the CT's
grid. Fractional segments count a voxel in from a fraction of 0.5.

highdicom is the optional `lesions` extra, imported when a SEG is read and not before.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from radiomicgan.errors import InputError
from radiomicgan.io.discovery import one_line
from radiomicgan.io.masks.references import CtIdentity, check_references
from radiomicgan.io.masks.regions import Region, RegionSet
from radiomicgan.io.volume import Volume

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install radiomicgan[lesions]"
# A fractional segment covers a voxel when at least half of it is in (the usual binarization).
FRACTION_IN = 0.5
# How far the SEG's plane positions may stray from the CT's voxels to be matched (mm): DICOM
# decimal strings keep ~6 significant digits.
_POSITION_TOLERANCE_MM = 1e-3


def read_seg(path: Path, reference: Volume) -> RegionSet:
    """Read a DICOM SEG as one region per segment on the reference CT's grid.

    Args:
        path: the SEG file.
        reference: the CT series (read from DICOM) the SEG was drawn on.

    Returns:
        One region per segment, in segment number order; a segment with no voxel stays, empty.

    Raises:
        InputError: highdicom is not installed; the CT was not read from DICOM; the file is not
            a readable SEG or has no segment; it references another frame of reference, series
            or instances than the CT's; or its frames do not lie on the CT's grid.
    """
    ct = CtIdentity.of(reference, path, "SEG")
    seg = _segread(path)
    numbers = [int(n) for n in seg.segment_numbers]
    if not numbers:
        raise InputError(path, "no region: the SEG describes no segment")
    sources = _frame_sources(seg)
    check_references(
        path,
        ct,
        frames_of_reference=[str(seg.get("FrameOfReferenceUID", "") or "")],
        series_uids=[str(series) for _, series, _ in seg.get_source_image_uids()],
        instance_uids={uid for frame in sources for uid, _ in frame},
    )
    by_instance = all(any(preserved == "YES" for _, preserved in frame) for frame in sources)
    fractional = str(seg.segmentation_type.value) == "FRACTIONAL"
    if by_instance:
        stacks = _stacks_by_instance(seg, numbers, reference, ct, path)
    else:
        logger.debug("%s: frames placed by plane position (not each names its CT image)", path.name)
        stacks = _stacks_by_position(seg, numbers, reference, path)
    regions = []
    try:
        for number, pixels in zip(numbers, stacks, strict=True):
            mask = pixels >= FRACTION_IN if fractional else pixels > 0
            label = str(seg.get_segment_description(number).segment_label or "")
            regions.append(Region(number=number, name=label or f"label {number}", mask=mask))
    except (RuntimeError, ValueError, KeyError) as exc:  # highdicom's complaints about the frames
        raise InputError(path, f"its frames cannot be placed on the CT's grid ({one_line(exc)})") from exc
    return RegionSet(regions=tuple(regions), source_path=path, source_format="seg")


def _segread(path: Path) -> Any:
    try:
        hd = importlib.import_module("highdicom")
    except ImportError as exc:
        raise InputError(
            path, f"reading a DICOM SEG needs highdicom, an optional extra: {INSTALL_HINT}"
        ) from exc
    try:
        return hd.seg.segread(path)
    except Exception as exc:  # highdicom raises Value, Attribute, Key errors on a damaged object
        raise InputError(path, f"cannot read DICOM SEG ({type(exc).__name__}: {one_line(exc)})") from exc


def _frame_sources(seg: Dataset) -> list[list[tuple[str, str]]]:
    """Per frame, the (SOPInstanceUID, SpatialLocationsPreserved) of each image it was derived from."""
    shared = _derivations(seg.get("SharedFunctionalGroupsSequence", [Dataset()])[0])
    frames = seg.get("PerFrameFunctionalGroupsSequence", [])
    return [_derivations(frame) or shared for frame in frames]


def _derivations(group: Dataset) -> list[tuple[str, str]]:
    return [
        (str(source.get("ReferencedSOPInstanceUID", "")), str(source.get("SpatialLocationsPreserved", "")))
        for derivation in group.get("DerivationImageSequence", [])
        for source in derivation.get("SourceImageSequence", [])
    ]


def _stacks_by_instance(
    seg: Any, numbers: list[int], reference: Volume, ct: CtIdentity, path: Path
) -> Iterator[NDArray[Any]]:
    """Each segment's pixels [z, y, x] (0/1, or fractions in [0, 1]), frames put on the slices of
    the CT images they were derived from."""
    _, rows, columns = reference.shape
    if (int(seg.Rows), int(seg.Columns)) != (rows, columns):
        raise InputError(
            path, f"frames of {seg.Rows}x{seg.Columns} pixels; the CT's slices are {rows}x{columns}"
        )
    uids = sorted(ct.slice_of_instance, key=ct.slice_of_instance.__getitem__)
    # One segment at a time, as the caller takes them: a many-organ SEG's whole
    # [z, y, x, segments] stack can take GBs.
    for number in numbers:
        pixels = seg.get_pixels_by_source_instance(
            uids, segment_numbers=[number], assert_missing_frames_are_empty=True
        )
        yield pixels[..., 0]


def _stacks_by_position(
    seg: Any, numbers: list[int], reference: Volume, path: Path
) -> Iterator[NDArray[Any]]:
    """Each segment's pixels [z, y, x], frames put where their plane positions lie on the CT's grid."""
    hd = importlib.import_module("highdicom")
    direction = np.asarray(reference.direction, dtype=np.float64)
    affine = np.eye(4)
    # highdicom's affine maps (slice, row, column) indices; the Volume's direction columns are x, y, z.
    affine[:3, :3] = direction[:, ::-1] * np.asarray(reference.spacing_zyx_mm)[None, :]
    affine[:3, 3] = reference.origin_xyz_mm
    geometry = hd.VolumeGeometry(affine, reference.shape, "PATIENT")
    volume = seg.get_volume(segment_numbers=numbers)
    array = np.asarray(volume.match_geometry(geometry, tol=_POSITION_TOLERANCE_MM).array)
    for index in range(len(numbers)):
        yield array[..., index]

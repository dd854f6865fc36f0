"""RT Structure Sets (RTSTRUCT): each ROI's closed planar contours rasterized on the CT's grid.

A contour's patient (LPS) points are mapped to voxel coordinates with the CT's geometry; the
contour belongs to the slice its points lie on, and its polygon covers the pixels whose centres
are inside it. Several contours of one ROI on one slice combine by XOR (even-odd), so a contour
inside another is a hole, as treatment planning systems draw them. POINT and OPEN contours mark
no volume and are skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom import dcmread
from pydicom.dataset import Dataset
from skimage.draw import polygon

from radiomicgan.errors import InputError
from radiomicgan.io.discovery import one_line
from radiomicgan.io.masks.grid import Grid
from radiomicgan.io.masks.references import CtIdentity, check_references
from radiomicgan.io.masks.regions import Region, RegionSet
from radiomicgan.io.volume import Volume

logger = logging.getLogger(__name__)

# A contour lies on a slice when its points are within a quarter of the slice spacing of its
# plane. Contours drawn on the series lie on its planes to DICOM's decimal rounding (< 0.01 mm);
# one further off was drawn on another slice grid, and snapping it to the nearest slice could put
# two contours on one slice, where XOR would punch false holes.
SLICE_TOLERANCE = 0.25


@dataclass(frozen=True)
class _Roi:
    number: int
    name: str
    frame_of_reference_uid: str


def read_rtstruct(path: Path, reference: Volume) -> RegionSet:
    """Read an RTSTRUCT as one region per ROI, rasterized on the reference CT's grid.

    Args:
        path: the RTSTRUCT file.
        reference: the CT series (read from DICOM) the structures were drawn on.

    Returns:
        One region per ROI in ROINumber order; an ROI without contours on this CT stays, empty.

    Raises:
        InputError: the CT was not read from DICOM; the file cannot be read or has no ROI; it
            references another frame of reference, series or images than the CT's; or a contour
            is malformed or lies between the CT's slices.
    """
    ct = CtIdentity.of(reference, path, "RTSTRUCT")
    ds = _read(path)
    rois = _rois(ds, path)
    check_references(
        path,
        ct,
        frames_of_reference=[str(ds.get("FrameOfReferenceUID", "") or "")],
        series_uids=_referenced_series(ds),
        instance_uids=_contour_images(ds),
    )
    for roi in rois.values():
        if roi.frame_of_reference_uid and roi.frame_of_reference_uid != ct.frame_of_reference_uid:
            raise InputError(
                path,
                f"references another series: ROI {roi.number} lies in frame of reference "
                f"{roi.frame_of_reference_uid}, not the CT's {ct.frame_of_reference_uid}",
            )
    grid = Grid.of(reference)
    masks = {number: np.zeros(grid.shape, dtype=bool) for number in rois}
    for item in ds.get("ROIContourSequence", []):
        number = str(item.get("ReferencedROINumber", "") or "").strip()
        if not number.isdigit() or int(number) not in masks:
            raise InputError(
                path, f"contours of ROI {number or '(no number)'}, which the structure set does not list"
            )
        for contour in item.get("ContourSequence", []):
            _draw(contour, masks[int(number)], grid, path, int(number))
    regions = tuple(
        Region(r.number, r.name, masks[r.number]) for r in sorted(rois.values(), key=lambda r: r.number)
    )
    return RegionSet(regions=regions, source_path=path, source_format="rtstruct")


def _read(path: Path) -> Dataset:
    try:
        # force: files without preamble and file meta are common among older RT exports, and
        # read_regions has already found an RTSTRUCT's Modality in it
        return dcmread(path, force=True)
    except Exception as exc:  # pydicom raises many types on a damaged file
        raise InputError(path, f"cannot read RTSTRUCT ({type(exc).__name__}: {one_line(exc)})") from exc


def _rois(ds: Dataset, path: Path) -> dict[int, _Roi]:
    rois: dict[int, _Roi] = {}
    for item in ds.get("StructureSetROISequence", []):
        try:
            number = int(item.ROINumber)
        except (AttributeError, TypeError, ValueError) as exc:
            raise InputError(path, "an ROI without a valid ROINumber") from exc
        name = str(item.get("ROIName", "") or "").strip() or f"label {number}"
        rois[number] = _Roi(number, name, str(item.get("ReferencedFrameOfReferenceUID", "") or ""))
    if not rois:
        raise InputError(path, "no region: the RTSTRUCT lists no ROI")
    return rois


def _referenced_series(ds: Dataset) -> set[str]:
    return {
        str(series.get("SeriesInstanceUID", ""))
        for frame in ds.get("ReferencedFrameOfReferenceSequence", [])
        for study in frame.get("RTReferencedStudySequence", [])
        for series in study.get("RTReferencedSeriesSequence", [])
    }


def _contour_images(ds: Dataset) -> set[str]:
    """The images the contours were drawn on (each contour's ContourImageSequence)."""
    return {
        str(image.get("ReferencedSOPInstanceUID", ""))
        for item in ds.get("ROIContourSequence", [])
        for contour in item.get("ContourSequence", [])
        for image in contour.get("ContourImageSequence", [])
    }


def _draw(contour: Dataset, mask: NDArray[np.bool_], grid: Grid, path: Path, roi: int) -> None:
    """XOR one closed planar contour's filled polygon into its slice of `mask`."""
    kind = str(contour.get("ContourGeometricType", "") or "")
    if kind != "CLOSED_PLANAR":
        logger.debug("ROI %d: %s contour skipped (it encloses no area)", roi, kind or "untyped")
        return
    points = _points(contour, path, roi)
    if len(points) < 3:
        logger.debug("ROI %d: closed contour of %d points skipped (no area)", roi, len(points))
        return
    columns, rows, slices = grid.voxel_coordinates(points).T
    k = int(np.rint(np.median(slices)))
    if np.ptp(slices) > SLICE_TOLERANCE:
        span = f"slice index {np.min(slices):.2f} to {np.max(slices):.2f}"
        raise InputError(
            path, f"ROI {roi}: a contour that does not lie in one of the CT's slice planes ({span})"
        )
    if np.max(np.abs(slices - k)) > SLICE_TOLERANCE:
        raise InputError(
            path, f"ROI {roi}: a contour between the CT's slices (slice index {np.median(slices):.2f})"
        )
    if not 0 <= k < grid.shape[0]:
        logger.warning("ROI %d: a contour beyond the CT's slices (slice index %d) is left out", roi, k)
        return
    filled_rows, filled_columns = polygon(rows, columns, shape=grid.shape[1:])  # type: ignore[no-untyped-call]
    mask[k, filled_rows, filled_columns] ^= True


def _points(contour: Dataset, path: Path, roi: int) -> NDArray[np.float64]:
    """ContourData as LPS points [n, 3] (mm)."""
    try:
        values = np.asarray([float(v) for v in contour.get("ContourData", [])], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(path, f"ROI {roi}: contour data that are not numbers") from exc
    if values.size % 3 or not np.all(np.isfinite(values)):
        raise InputError(path, f"ROI {roi}: contour data that are not finite (x, y, z) triplets")
    return values.reshape(-1, 3)

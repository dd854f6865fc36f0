"""Read one DICOM CT series into a Volume in Hounsfield units.

Pure reading: input files are opened read-only and never written. Each slice's pixels pass through
pydicom's decoders (pylibjpeg plugins for JPEG, JPEG-LS, JPEG 2000; native RLE and deflate), then
RescaleSlope/RescaleIntercept, so the Volume holds HU whatever the stored encoding was.
`plan_series` sorts and checks a series from its headers alone; `read_slice` then reads one slice's
pixels, so a caller may hold a few slices at a time instead of the volume (see `io.stream`).

A damaged file is refused with an InvalidSeriesError naming it, never read into wrong HU: the
rescale (Type 1 in the CT Image module) is never guessed, every number used must be one finite
value, and the pixel data must be exactly as long as Rows x Columns x BitsAllocated say
(tests/io/test_reader_fuzz.py holds the reader to this).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    EnhancedCTImageStorage,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    LegacyConvertedEnhancedCTImageStorage,
)

from radiomicgan.errors import InputError, InvalidSeriesError, SeveralSeriesError
from radiomicgan.io.dicom_geometry import SeriesGeometry, series_geometry
from radiomicgan.io.dicom_values import integer, number
from radiomicgan.io.discovery import SeriesRef, convert_elements, find_series, one_line
from radiomicgan.io.volume import SeriesMeta, Volume, slice_positions_xyz_mm

logger = logging.getLogger(__name__)

_MULTIFRAME_CT = frozenset({EnhancedCTImageStorage, LegacyConvertedEnhancedCTImageStorage})
_IMAGE_PIXEL = (
    "Rows",
    "Columns",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
)


def read_dicom(path: Path, series_uid: str | None = None) -> Volume:
    """Read the CT series found under a DICOM file or folder.

    Args:
        path: a DICOM file or a folder searched recursively.
        series_uid: the SeriesInstanceUID to read; needed when the folder holds several CT series.

    Returns:
        The series as a Volume with source datasets (pixel data removed) in slice order.

    Raises:
        InputError: `path` is an empty folder or holds no DICOM image.
        InvalidSeriesError: no CT series, the chosen series is missing or not CT, or it cannot
            become a volume (geometry, missing rescale, undecodable or truncated pixel data).
        SeveralSeriesError: several CT series and no `series_uid`.
    """
    refs = find_series(path)
    if not refs:
        if path.is_dir():
            empty = not any(p.is_file() for p in path.rglob("*"))
            raise InputError(path, "empty folder" if empty else "no DICOM image files found")
        raise InputError(path, "not a DICOM image file (nor .nrrd/.nhdr/.nii/.nii.gz)")
    return read_series(select_series(refs, path, series_uid))


def select_series(refs: list[SeriesRef], root: Path, series_uid: str | None = None) -> SeriesRef:
    """Pick the CT series to read among those found under `root`.

    Args:
        refs: the image series found (any modality).
        root: the searched path, for messages.
        series_uid: the series wanted, or None to take the only CT series.

    Returns:
        The chosen CT series.

    Raises:
        InvalidSeriesError: `series_uid` is not among `refs`, is not CT, or there is no CT series.
        SeveralSeriesError: several CT series and no `series_uid`; the message lists each.
    """
    if series_uid is not None:
        chosen = [r for r in refs if r.series_uid == series_uid]
        if not chosen:
            found = "; ".join(r.label() for r in refs)
            raise InvalidSeriesError(root, f"series {series_uid} not found (series here: {found})")
        if not chosen[0].is_ct:
            raise InvalidSeriesError(
                root, f"series {series_uid} is {chosen[0].modality or 'no modality'}, not CT"
            )
        return chosen[0]
    ct = [r for r in refs if r.is_ct]
    if not ct:
        counts = Counter(r.modality or "none" for r in refs)
        found = ", ".join(f"{modality} ({n} series)" for modality, n in sorted(counts.items()))
        raise InvalidSeriesError(root, f"no CT series; modalities found: {found}")
    if len(ct) > 1:
        listed = "; ".join(r.label() for r in ct)
        raise SeveralSeriesError(root, f"{len(ct)} CT series, choose one by series UID: {listed}")
    return ct[0]


@dataclass(frozen=True)
class SeriesPlan:
    """A CT series checked from its headers alone: everything but the pixels.

    Attributes:
        ref: the series as discovery found it.
        files: its image files in slice order (localizers left out).
        geometry: the volume geometry (its `order` indexes the discovered files, localizers left out).
        meta: the series identity a Volume of it would carry.
    """

    ref: SeriesRef
    files: tuple[Path, ...]
    geometry: SeriesGeometry
    meta: SeriesMeta

    @property
    def folders(self) -> list[Path]:
        """The folders its files lie in (an output there would be read back as input)."""
        return sorted({self.ref.folder, *(path.parent for path in self.files)})

    def positions_xyz_mm(self) -> NDArray[np.float64]:
        """Patient position (LPS, mm) of the first voxel of every slice, [z, 3], as a Volume gives it."""
        g = self.geometry
        return slice_positions_xyz_mm(g.origin_xyz_mm, g.direction, g.spacing_zyx_mm[0], g.shape[0])


def plan_series(ref: SeriesRef) -> SeriesPlan:
    """Sort and check a CT series from its headers, reading no pixel data.

    Args:
        ref: the series (its files and identity).

    Returns:
        The slice order, geometry and identity; `read_slice` then reads the pixels slice by slice.

    Raises:
        InvalidSeriesError: a file cannot be read, is multi-frame, lacks the rescale, holds what a CT
            slice cannot (another modality, a colour or bit depth other than 8/16/32, a number that
            is not one finite value), or the slices do not form a regular volume.
    """
    headers = [_read_file(path, pixels=False) for path in ref.files]
    headers, files = _drop_localizers(headers, list(ref.files))
    for ds, path in zip(headers, files, strict=True):
        _check_header(ds, path)
    geometry = series_geometry(headers, files)
    meta = SeriesMeta(
        study_uid=ref.study_uid,
        frame_of_reference_uid=ref.frame_of_reference_uid,
        series_uid=ref.series_uid,
        kernel=ref.kernel,
        modality=ref.modality,
        description=ref.description,
    )
    return SeriesPlan(ref, tuple(files[i] for i in geometry.order), geometry, meta)


def read_slice(path: Path) -> tuple[Dataset, NDArray[np.float32]]:
    """Read one slice: its dataset without pixel data, and its pixels in HU [y, x].

    Raises:
        InvalidSeriesError: unreadable, no pixel data, pixel data of another length than Rows x
            Columns x BitsAllocated, pixels that cannot be decoded, or HU beyond float32.
    """
    ds = _read_file(path, pixels=True)
    _check_slice(ds, path)
    hu = _decode_hu(ds, path)
    del ds.PixelData  # the caller holds the pixels; the dataset carries the other tags only
    return ds, hu


def read_series(ref: SeriesRef) -> Volume:
    """Read a CT series found by discovery into a Volume.

    Args:
        ref: the series (its files and identity).

    Returns:
        float32 HU [z, y, x] in slice order, with geometry, metadata and pixel-less datasets.

    Raises:
        InvalidSeriesError: as for `read_dicom`.
    """
    plan = plan_series(ref)
    geometry = plan.geometry
    hu = np.empty(geometry.shape, dtype=np.float32)
    ordered: list[Dataset] = []
    for z, path in enumerate(plan.files):
        ds, hu[z] = read_slice(path)
        ordered.append(ds)
    # Debug, not info: commands read many series, and a bad input must stay one line on stderr.
    logger.debug("read CT series %s: %d slices of %dx%d", ref.series_uid, *geometry.shape)
    return Volume(
        hu=hu,
        spacing_zyx_mm=geometry.spacing_zyx_mm,
        origin_xyz_mm=geometry.origin_xyz_mm,
        direction=geometry.direction,
        meta=plan.meta,
        datasets=ordered,
        source_path=ref.folder,
        source_format="dicom",
    )


def _read_file(path: Path, *, pixels: bool) -> Dataset:
    try:
        ds = dcmread(path, force=True, stop_before_pixels=not pixels)
        convert_elements(ds)
        return ds
    except Exception as exc:  # pydicom raises many types on corrupt files
        raise InvalidSeriesError(
            path, f"cannot be read as DICOM ({type(exc).__name__}: {one_line(exc)})"
        ) from exc


def _drop_localizers(datasets: list[Dataset], files: list[Path]) -> tuple[list[Dataset], list[Path]]:
    """Leave out scout images that some scanners store inside the axial series."""
    keep = [i for i, ds in enumerate(datasets) if "LOCALIZER" not in _image_type(ds)]
    if not keep or len(keep) == len(datasets):
        return datasets, files
    logger.warning("%s: leaving out %d localizer images", files[0].parent, len(datasets) - len(keep))
    return [datasets[i] for i in keep], [files[i] for i in keep]


def _image_type(ds: Dataset) -> list[str]:
    value = ds.get("ImageType")
    if value is None or value == "":
        return []
    return [str(value)] if isinstance(value, str) else [str(v) for v in value]


def _check_slice(ds: Dataset, path: Path) -> None:
    """A single-frame grayscale image with pixel data and the rescale the CT Image module requires."""
    _check_header(ds, path)
    if "PixelData" not in ds:
        raise InvalidSeriesError(path, "no pixel data")


def _check_header(ds: Dataset, path: Path) -> None:
    """What `_check_slice` checks that the header alone tells."""
    modality = ds.get("Modality")
    if modality != "CT":
        # A slice of another modality in a CT series is a damaged file: its values are not HU.
        raise InvalidSeriesError(path, f"Modality is {str(modality or 'missing')!r}, not CT, in a CT series")
    frames = 1 if ds.get("NumberOfFrames") in (None, "") else integer(ds, "NumberOfFrames", path)
    if frames < 1:
        raise InvalidSeriesError(path, f"NumberOfFrames is {frames}")
    if ds.get("SOPClassUID") in _MULTIFRAME_CT or frames > 1:
        raise InvalidSeriesError(
            path,
            "multi-frame (Enhanced CT) images are not supported; convert the series to single-frame "
            "CT Image Storage first",
        )
    _check_image_pixel(ds, path)
    for keyword in ("RescaleSlope", "RescaleIntercept"):
        if ds.get(keyword) in (None, ""):
            # Type 1 in the CT Image module: without it the stored values are not HU, and guessing
            # (slope 1, intercept 0 or -1024) would silently shift every value.
            raise InvalidSeriesError(path, f"missing {keyword}; cannot convert stored values to HU")
    # One finite number each, or the HU would be NaN, infinite, or a ValueError far from this file.
    if number(ds, "RescaleSlope", path) == 0:
        raise InvalidSeriesError(path, "RescaleSlope is 0")
    number(ds, "RescaleIntercept", path)


def _check_image_pixel(ds: Dataset, path: Path) -> None:
    """The Image Pixel module attributes a CT slice needs (Type 1, PS3.3 C.7.6.3 and C.8.2.1)."""
    for keyword in _IMAGE_PIXEL:
        if ds.get(keyword) in (None, ""):
            raise InvalidSeriesError(path, f"missing {keyword} (Image Pixel module)")
    if integer(ds, "SamplesPerPixel", path) != 1:
        raise InvalidSeriesError(path, "not a grayscale image (SamplesPerPixel != 1)")
    photometric = str(ds.PhotometricInterpretation)
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise InvalidSeriesError(path, f"PhotometricInterpretation {photometric!r} is not MONOCHROME1/2")
    bits = integer(ds, "BitsAllocated", path)
    if bits not in (8, 16, 32):
        raise InvalidSeriesError(path, f"BitsAllocated {bits} is not 8, 16 or 32")
    if not 1 <= integer(ds, "BitsStored", path) <= bits:
        raise InvalidSeriesError(path, f"BitsStored {ds.BitsStored} is not 1 to BitsAllocated ({bits})")
    if integer(ds, "PixelRepresentation", path) not in (0, 1):
        raise InvalidSeriesError(path, f"PixelRepresentation {ds.PixelRepresentation} is not 0 or 1")


def _decode_hu(ds: Dataset, path: Path) -> NDArray[np.float32]:
    tsyntax = _transfer_syntax(ds)
    rows, columns = integer(ds, "Rows", path), integer(ds, "Columns", path)
    if not tsyntax.is_encapsulated:
        _check_pixel_length(len(ds.PixelData), rows * columns * integer(ds, "BitsAllocated", path) // 8, path)
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # each decoder plugin raises its own types
        raise InvalidSeriesError(path, f"cannot decode pixel data ({tsyntax.name}): {one_line(exc)}") from exc
    if pixels.shape != (rows, columns):
        raise InvalidSeriesError(
            path, f"decoded pixels have shape {pixels.shape}, expected ({rows}, {columns})"
        )
    # float64 arithmetic so that integer stored values times a slope of 1 give exact integer HU
    slope, intercept = number(ds, "RescaleSlope", path), number(ds, "RescaleIntercept", path)
    hu = (pixels.astype(np.float64) * slope + intercept).astype(np.float32)
    if not np.isfinite(hu).all():
        raise InvalidSeriesError(path, "RescaleSlope and RescaleIntercept take HU beyond the float32 range")
    return hu


def _check_pixel_length(actual: int, expected: int, path: Path) -> None:
    if actual < expected:
        raise InvalidSeriesError(path, f"truncated pixel data ({actual} of {expected} bytes)")
    if actual > expected + 1:  # one byte pads an odd length to even (PS3.5 8.1.1)
        # More bytes than the header accounts for: Rows or Columns are wrong, and decoding would
        # reinterpret the pixels on another grid (pydicom only warns and drops the excess).
        raise InvalidSeriesError(
            path, f"pixel data holds {actual} bytes, Rows x Columns x BitsAllocated give {expected}"
        )


def _transfer_syntax(ds: Dataset) -> UID:
    """The dataset's transfer syntax; for files without meta, the encoding pydicom inferred."""
    tsyntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if tsyntax:
        return UID(str(tsyntax))
    implicit, little = ds.original_encoding
    inferred = (
        ImplicitVRLittleEndian if implicit else (ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
    )
    # Only the in-memory copy gets a transfer syntax: pydicom's decoders need one.
    ds.ensure_file_meta()
    ds.file_meta.TransferSyntaxUID = inferred
    return inferred

"""Write a Volume as a DICOM series: int16 HU, Explicit VR Little Endian, one file per slice.

Pixels are always re-encoded the same way (signed 16-bit, slope 1, intercept 0), whatever the
source's encoding was, so every integer HU a CT can hold survives exactly and no stale pixel
description (bit depth, padding, min/max values) is carried over from the source.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLSNearLossless,
)

from radiomicgan.errors import OutputError
from radiomicgan.io.atomic import atomic_dir, check_output
from radiomicgan.io.derivation import Derivation, derive_dataset, derived_series_uid
from radiomicgan.io.dicom_geometry import ds_strings
from radiomicgan.io.ownership import IMPLEMENTATION_VERSION
from radiomicgan.io.volume import Volume

logger = logging.getLogger(__name__)

_INT16 = np.iinfo(np.int16)
# Transfer syntaxes that are always lossy; their loss must stay flagged in anything derived.
_LOSSY_METHODS = {
    JPEGBaseline8Bit: "ISO_10918_1",
    JPEGExtended12Bit: "ISO_10918_1",
    JPEGLSNearLossless: "ISO_14495_1",
}
# Pixel-description tags whose values belonged to the source's stored encoding.
_STALE_PIXEL_KEYWORDS = (
    "SmallestImagePixelValue",
    "LargestImagePixelValue",
    "SmallestPixelValueInSeries",
    "LargestPixelValueInSeries",
    "ModalityLUTSequence",
    "PlanarConfiguration",
    "ExtendedOffsetTable",
    "ExtendedOffsetTableLengths",
    "FloatPixelData",
    "DoubleFloatPixelData",
    "PixelDataProviderURL",
    "DataSetTrailingPadding",
)
_POSITION_TOLERANCE_MM = 1e-4


def write_dicom_series(
    volume: Volume, out_dir: str | Path, *, derivation: Derivation | None = None, overwrite: bool = False
) -> Path:
    """Write a volume with DICOM datasets as one file per slice, atomically.

    With `derivation`, each slice becomes a derived instance of its source (new deterministic
    series and instance UIDs, same study and frame of reference, DERIVED\\SECONDARY, a source image
    reference). Without, datasets are written as they are (e.g. from `new_ct_datasets`).
    Either way pixels and geometry (position, orientation, spacing) come from the volume.

    Args:
        volume: HU volume whose `datasets` hold one dataset per slice, in slice order.
        out_dir: the series folder to create; files are IM000001.dcm, ... in slice order.
        derivation: provenance of a derived series, or None.
        overwrite: replace an existing `out_dir`.

    Returns:
        The written folder.

    Raises:
        OutputError: no datasets, `out_dir` exists without `overwrite`, lies in (or contains) the
            input folder, the volume holds NaN/inf, a dataset lacks its SOP UIDs, or writing fails.
            Nothing is left at `out_dir` on failure (an existing one is kept).
    """
    out = Path(out_dir)
    if volume.datasets is None:
        raise OutputError(out, "the volume has no DICOM datasets; build them with new_ct_datasets()")
    first_uid = volume.datasets[0].get("SeriesInstanceUID", "") if volume.datasets else ""
    source_series = str(first_uid or volume.meta.series_uid)
    with dicom_series_writer(
        out,
        positions_xyz_mm=volume.slice_positions_xyz_mm(),
        direction=volume.direction,
        spacing_zyx_mm=volume.spacing_zyx_mm,
        source_series_uid=source_series,
        derivation=derivation,
        overwrite=overwrite,
        inputs=_input_folders(volume),
    ) as writer:
        writer.write(volume.datasets, volume.hu)
    return out


@contextmanager
def dicom_series_writer(
    out: Path,
    *,
    positions_xyz_mm: NDArray[np.float64],
    direction: NDArray[np.float64],
    spacing_zyx_mm: tuple[float, float, float],
    source_series_uid: str = "",
    derivation: Derivation | None = None,
    overwrite: bool = False,
    inputs: Iterable[Path] = (),
) -> Iterator[DicomSeriesWriter]:
    """Write a series batch by batch: it appears at `out` whole when the block ends, or not at all.

    Slices go into a hidden temporary folder as they come, so memory holds one batch at a time;
    an exception (Ctrl-C included) or a missing slice removes that folder and keeps an existing `out`.

    Args:
        out: the series folder to create.
        positions_xyz_mm: every slice's position [z, 3] (LPS, mm); its length is the slice count.
        direction: 3x3 direction matrix of the volume (columns: x, y, z axes in LPS).
        spacing_zyx_mm: slice step, row and column spacing.
        source_series_uid: the source's SeriesInstanceUID, hashed into the derived series UID.
        derivation: provenance of a derived series, or None to write datasets as they are.
        overwrite: replace an existing `out`.
        inputs: the folders the data was read from; an output in or around them is refused.

    Yields:
        The writer; call `write` with the slices in order.

    Raises:
        OutputError: as for `write_dicom_series`, or fewer slices written than positions given.
    """
    check_output(out, overwrite=overwrite, inputs=inputs, is_dir=True)
    series_uid = derived_series_uid(source_series_uid, derivation) if derivation is not None else None
    with atomic_dir(out, mark=False) as temporary:  # our files name their writer: no marker needed
        writer = DicomSeriesWriter(
            out, temporary, positions_xyz_mm, direction, spacing_zyx_mm, derivation, series_uid
        )
        yield writer
        if writer.written != len(positions_xyz_mm):
            raise OutputError(out, f"only {writer.written} of {len(positions_xyz_mm)} slices were written")
    logger.info("wrote %d DICOM slices to %s", writer.written, out)


class DicomSeriesWriter:
    """Writes slices, in order, into the temporary folder that `dicom_series_writer` opened."""

    def __init__(
        self,
        out: Path,
        temporary: Path,
        positions_xyz_mm: NDArray[np.float64],
        direction: NDArray[np.float64],
        spacing_zyx_mm: tuple[float, float, float],
        derivation: Derivation | None,
        series_uid: str | None,
    ) -> None:
        self.out = out
        self.written = 0
        self._temporary = temporary
        self._positions = np.asarray(positions_xyz_mm, dtype=np.float64)
        self._direction = np.asarray(direction, dtype=np.float64)
        self._spacing = spacing_zyx_mm
        self._derivation = derivation
        self._series_uid = series_uid

    def write(self, sources: Sequence[Dataset], hu: NDArray[np.float32]) -> None:
        """Write the next slices: their source datasets and HU [b, y, x], rounded to int16.

        Raises:
            OutputError: more slices than positions, NaN/inf in `hu`, a dataset without SOP UIDs, or
                a file that cannot be written.
            ValueError: a derived slice's source has no SOPInstanceUID/SOPClassUID.
        """
        if len(sources) != len(hu):
            raise ValueError(f"{len(sources)} datasets for {len(hu)} slices")
        if self.written + len(sources) > len(self._positions):
            raise OutputError(self.out, f"more than the {len(self._positions)} slices the series has")
        stored = _stored_values(hu, self.out)
        for source, pixels in zip(sources, stored, strict=True):
            z = self.written
            ds = copy.deepcopy(source)
            if self._derivation is not None and self._series_uid is not None:
                derive_dataset(ds, self._derivation, self._series_uid)
            _set_geometry(ds, self._direction, self._spacing, self._positions[z])
            _set_pixels(ds, pixels, source)
            _write(ds, self._temporary / f"IM{z + 1:06d}.dcm", self.out, z)
            self.written += 1


def _input_folders(volume: Volume) -> list[Path]:
    """The DICOM folders the volume was read from (a series written there would be read back too)."""
    folders: set[Path] = set()
    if volume.source_path is not None and volume.source_format == "dicom":
        folders.add(volume.source_path)
    for ds in volume.datasets or []:
        filename = getattr(ds, "filename", None)
        if isinstance(filename, str) and filename:
            folders.add(Path(filename).parent)
    return sorted(folders)


def _stored_values(hu: NDArray[np.float32], out: Path) -> NDArray[np.int16]:
    if not np.isfinite(hu).all():
        raise OutputError(out, "the volume holds NaN or infinite values")
    rounded = np.rint(hu)
    outside = int(np.count_nonzero((rounded < _INT16.min) | (rounded > _INT16.max)))
    if outside:
        logger.warning("%s: %d voxels outside the int16 range clipped to [-32768, 32767] HU", out, outside)
    return np.clip(rounded, _INT16.min, _INT16.max).astype(np.int16)


def _set_geometry(
    ds: Dataset,
    direction: NDArray[np.float64],
    spacing_zyx_mm: tuple[float, float, float],
    position: NDArray[np.float64],
) -> None:
    old = ds.get("ImagePositionPatient")
    moved = (
        old is None
        or len(old) != 3
        or np.abs(np.array(old, dtype=float) - position).max() > _POSITION_TOLERANCE_MM
    )
    ds.ImagePositionPatient = ds_strings(position)
    ds.ImageOrientationPatient = ds_strings([*direction[:, 0], *direction[:, 1]])
    ds.PixelSpacing = ds_strings([spacing_zyx_mm[1], spacing_zyx_mm[2]])
    if "SpacingBetweenSlices" in ds:
        ds.SpacingBetweenSlices = ds_strings([spacing_zyx_mm[0]])[0]
    if moved and "SliceLocation" in ds:
        del ds.SliceLocation  # vendors differ in how it relates to the position; drop rather than guess


def _set_pixels(ds: Dataset, pixels: NDArray[np.int16], source: Dataset) -> None:
    _convert_padding(ds)
    for keyword in _STALE_PIXEL_KEYWORDS:
        if keyword in ds:
            delattr(ds, keyword)
    _flag_lossy_source(ds, source)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleSlope = "1"
    ds.RescaleIntercept = "0"
    ds.RescaleType = "HU"
    ds.add_new(0x7FE00010, "OW", pixels.astype("<i2").tobytes())


def _convert_padding(ds: Dataset) -> None:
    """Re-express PixelPaddingValue (and range limit) in the new stored values, or drop them."""
    keywords = ("PixelPaddingValue", "PixelPaddingRangeLimit")
    present = [k for k in keywords if k in ds]
    if not present:
        return
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    values = {k: float(ds[k].value) * slope + intercept for k in present}
    fits = all(v == round(v) and _INT16.min <= v <= _INT16.max for v in values.values())
    for keyword in present:
        delattr(ds, keyword)
        if fits:
            tag = 0x00280120 if keyword == "PixelPaddingValue" else 0x00280121
            ds.add_new(tag, "SS", int(values[keyword]))


def _flag_lossy_source(ds: Dataset, source: Dataset) -> None:
    """Keep the record that these pixels went through lossy compression (set it if the source was)."""
    meta = getattr(source, "file_meta", None)
    tsyntax = meta.get("TransferSyntaxUID") if meta is not None else None
    method = _LOSSY_METHODS.get(UID(str(tsyntax))) if tsyntax else None
    if method is None:
        return
    ds.LossyImageCompression = "01"
    if "LossyImageCompressionMethod" not in ds:
        ds.LossyImageCompressionMethod = method


def _write(ds: Dataset, path: Path, out: Path, index: int) -> None:
    sop_class = str(ds.get("SOPClassUID", "") or "")
    sop_instance = str(ds.get("SOPInstanceUID", "") or "")
    if not sop_class or not sop_instance:
        raise OutputError(out, f"slice {index} has no SOPClassUID/SOPInstanceUID")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION  # also how --overwrite knows it
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
    dcmwrite(path, ds, implicit_vr=False, little_endian=True, enforce_file_format=True)

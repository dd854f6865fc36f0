"""read_volume: one entry point for DICOM folders or files, NRRD and NIfTI."""

from __future__ import annotations

from pathlib import Path

from radiomicgan.errors import InputError
from radiomicgan.io.dicom_reader import read_dicom
from radiomicgan.io.itk_formats import itk_format, read_itk
from radiomicgan.io.volume import Volume


def read_volume(path: str | Path, series_uid: str | None = None) -> Volume:
    """Read a CT volume in HU from a DICOM folder or file, a NRRD (.nrrd/.nhdr) or a NIfTI (.nii/.nii.gz).

    Args:
        path: the file or folder to read; never modified.
        series_uid: for DICOM, the SeriesInstanceUID to read when several CT series are present.

    Returns:
        The volume, with `source_format` and `source_path` set; for DICOM also the source datasets
        (without pixel data) in slice order and the series identity in `meta`.

    Raises:
        InputError: the path does not exist, is an empty folder, holds no DICOM image, or a
            `series_uid` was given for a NRRD/NIfTI file.
        InvalidSeriesError: the DICOM series cannot become a CT volume (see `read_dicom`).
        SeveralSeriesError: several CT series and no `series_uid`.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "does not exist")
    if path.is_file() and itk_format(path) is not None:
        if series_uid is not None:
            raise InputError(path, "series_uid applies to DICOM input only")
        return read_itk(path)
    return read_dicom(path, series_uid)

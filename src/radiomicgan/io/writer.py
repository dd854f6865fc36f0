"""write_volume: one entry point writing DICOM series, NRRD or NIfTI."""

from __future__ import annotations

from pathlib import Path

from radiomicgan.errors import OutputError
from radiomicgan.io.derivation import Derivation
from radiomicgan.io.dicom_writer import write_dicom_series
from radiomicgan.io.itk_formats import itk_format, write_itk
from radiomicgan.io.volume import Volume


def write_volume(
    volume: Volume, out_path: str | Path, *, derivation: Derivation | None = None, overwrite: bool = False
) -> Path:
    """Write a volume where `out_path` says: a NRRD/NIfTI file by suffix, else a DICOM series folder.

    A .nrrd/.nhdr/.nii/.nii.gz suffix always gives that format (even for a DICOM-sourced volume);
    any other path is a DICOM folder, which needs `volume.datasets` (read from DICOM, or built with
    `new_ct_datasets`).

    Args:
        volume: the volume to write.
        out_path: the output file or folder.
        derivation: provenance of a derived (harmonized) volume; for DICOM it makes a derived series.
        overwrite: replace an existing output.

    Returns:
        The written file or folder.

    Raises:
        OutputError: the output exists without `overwrite`, clobbers the input, the volume has no
            datasets for a DICOM output, or writing fails.
    """
    out = Path(out_path)
    if itk_format(out) is not None:
        return write_itk(volume, out, derivation=derivation, overwrite=overwrite)
    if volume.datasets is None:
        raise OutputError(
            out,
            "a DICOM series needs source datasets (read from DICOM or built with new_ct_datasets); "
            "or name a .nrrd/.nii.gz file",
        )
    return write_dicom_series(volume, out, derivation=derivation, overwrite=overwrite)

"""NRRD and NIfTI volumes through SimpleITK.

ITK already speaks LPS (it converts NIfTI's RAS on read and write) and its direction matrix has the
same columns as the Volume's, so only the axis order changes: ITK (x, y, z) versus array [z, y, x].
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
import SimpleITK as _sitk
from numpy.typing import NDArray

from radiomicgan.errors import InputError, OutputError
from radiomicgan.io.atomic import atomic_files, check_output
from radiomicgan.io.derivation import Derivation
from radiomicgan.io.ownership import NIFTI_DESCRIPTION, NRRD_KEY_PREFIX
from radiomicgan.io.volume import SeriesMeta, Volume

logger = logging.getLogger(__name__)
# SimpleITK ships its methods untyped; as Any, strict mypy checks our code rather than its stubs.
sitk: Any = _sitk

ItkFormat = Literal["nrrd", "nifti"]
_SUFFIXES: dict[str, ItkFormat] = {".nrrd": "nrrd", ".nhdr": "nrrd", ".nii": "nifti", ".nii.gz": "nifti"}
_INT16 = np.iinfo(np.int16)


def itk_format(path: str | Path) -> ItkFormat | None:
    """'nrrd' or 'nifti' from a file name's suffix (.nrrd, .nhdr, .nii, .nii.gz), else None."""
    name = Path(path).name.lower()
    for suffix, fmt in _SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    return None


def read_itk(path: str | Path) -> Volume:
    """Read a NRRD or NIfTI scalar volume (values taken as HU).

    Args:
        path: a .nrrd, .nhdr, .nii or .nii.gz file.

    Returns:
        The volume; `meta` has no UIDs (these formats carry none) and its description is the file name.

    Raises:
        InputError: the file is missing, unreadable, or not a 2-D/3-D scalar image.
    """
    path = Path(path)
    fmt = itk_format(path)
    if fmt is None:
        raise InputError(path, "not a .nrrd, .nhdr, .nii or .nii.gz file")
    if not path.is_file():
        raise InputError(path, "does not exist")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:  # SimpleITK reports every read failure as RuntimeError
        raise InputError(path, f"cannot read {fmt.upper()} file ({_itk_reason(exc)})") from exc
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(path, "not a scalar image (several components per voxel)")
    if image.GetDimension() == 2:
        image = sitk.JoinSeries(image)  # one slice of spacing 1 mm
    if image.GetDimension() != 3:
        raise InputError(path, f"{image.GetDimension()}-D image; expected 3-D")
    hu = sitk.GetArrayFromImage(image).astype(np.float32)  # ITK (x, y, z) -> array [z, y, x]
    sx, sy, sz = image.GetSpacing()
    ox, oy, oz = image.GetOrigin()
    return Volume(
        hu=hu,
        spacing_zyx_mm=(float(sz), float(sy), float(sx)),
        origin_xyz_mm=(float(ox), float(oy), float(oz)),
        direction=np.array(image.GetDirection(), dtype=np.float64).reshape(3, 3),
        meta=SeriesMeta(description=path.name),
        source_path=path,
        source_format=fmt,
    )


def write_itk(
    volume: Volume, out_path: str | Path, *, derivation: Derivation | None = None, overwrite: bool = False
) -> Path:
    """Write a volume as NRRD or NIfTI, chosen by the suffix of `out_path`, atomically.

    Values are stored as int16 when they are all integers in the int16 range (lossless and half
    the size), else as float32. A derivation is recorded as key/value metadata (NRRD keeps it).

    Args:
        volume: the volume to write.
        out_path: a .nrrd, .nhdr, .nii or .nii.gz file name.
        derivation: provenance of a harmonized volume, if any.
        overwrite: replace an existing file.

    Returns:
        The written path.

    Raises:
        OutputError: unknown suffix, the file exists without `overwrite`, it is the input file,
            the values are not finite, or writing fails.
    """
    out = Path(out_path)
    if itk_format(out) is None:
        raise OutputError(out, "unknown volume format; use .nrrd, .nhdr, .nii or .nii.gz")
    inputs = [volume.source_path] if volume.source_path is not None else []
    check_output(out, overwrite=overwrite, inputs=inputs, is_dir=False)
    if not np.isfinite(volume.hu).all():
        raise OutputError(out, "the volume holds NaN or infinite values")
    image = sitk.GetImageFromArray(_storage_array(volume.hu))
    image.SetSpacing(tuple(float(s) for s in reversed(volume.spacing_zyx_mm)))
    image.SetOrigin(tuple(float(v) for v in volume.origin_xyz_mm))
    image.SetDirection(tuple(float(v) for v in np.asarray(volume.direction, dtype=np.float64).ravel()))
    # Whose file this is, for a later --overwrite: a NRRD field, and NIfTI's description (ITK's file notes).
    image.SetMetaData(f"{NRRD_KEY_PREFIX}written_by", "radiomicgan")
    image.SetMetaData("ITK_FileNotes", NIFTI_DESCRIPTION)
    if derivation is not None:
        image.SetMetaData(f"{NRRD_KEY_PREFIX}method", derivation.method)
        image.SetMetaData(f"{NRRD_KEY_PREFIX}description", derivation.description)
        image.SetMetaData(f"{NRRD_KEY_PREFIX}model_id", derivation.model_id)
    with atomic_files(out) as temporary:
        try:
            sitk.WriteImage(image, str(temporary / out.name), useCompression=True)
        except RuntimeError as exc:
            raise OutputError(out, f"cannot write ({_itk_reason(exc)})") from exc
    logger.info("wrote %s (%d slices)", out, volume.shape[0])
    return out


def _storage_array(hu: NDArray[np.float32]) -> NDArray[np.int16] | NDArray[np.float32]:
    rounded = np.rint(hu)
    is_integer = bool(np.array_equal(rounded, hu))
    if is_integer and hu.size and _INT16.min <= hu.min() and hu.max() <= _INT16.max:
        return rounded.astype(np.int16)
    return hu.astype(np.float32)


def _itk_reason(exc: BaseException) -> str:
    # ITK messages carry a C++ source location on the first lines; the reason is on the last one.
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__

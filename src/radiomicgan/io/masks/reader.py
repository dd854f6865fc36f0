"""read_regions: one entry point for every mask format, chosen by what the file is."""

from __future__ import annotations

import logging
from pathlib import Path

from pydicom import dcmread

from radiomicgan.errors import InputError
from radiomicgan.io.discovery import one_line
from radiomicgan.io.itk_formats import itk_format
from radiomicgan.io.masks.label_volume import read_label_volume
from radiomicgan.io.masks.regions import RegionSet
from radiomicgan.io.masks.rtstruct import read_rtstruct
from radiomicgan.io.masks.seg import read_seg
from radiomicgan.io.volume import Volume

logger = logging.getLogger(__name__)

_MASK_MODALITIES = ("SEG", "RTSTRUCT")


def read_regions(path: str | Path, reference: Volume, *, resample: bool = False) -> RegionSet:
    """Read the regions of a mask file as boolean masks on a CT's grid.

    The format is taken from the file: .nrrd/.nhdr/.nii/.nii.gz are label volumes; a DICOM file,
    or a folder holding exactly one SEG or RTSTRUCT file, is read by its Modality. Nothing is
    ever written.

    Args:
        path: the mask file, or a folder holding one DICOM SEG or RTSTRUCT file (searched recursively).
        reference: the CT the masks belong to; DICOM masks must reference its series.
        resample: put a label volume of another grid onto the CT's grid (nearest neighbour);
            DICOM masks are always placed on the CT's grid, by their references.

    Returns:
        The file's regions, each a mask of `reference.hu`'s shape; empty ones included.

    Raises:
        InputError: the path is missing or not a mask, holds no region, does not fit the CT
            (another grid, another series), or is damaged; one line naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "does not exist")
    if path.is_file() and itk_format(path) is not None:
        return read_label_volume(path, reference, resample=resample)
    file, modality = _dicom_mask(path)
    if modality == "SEG":
        return read_seg(file, reference)
    return read_rtstruct(file, reference)


def _dicom_mask(path: Path) -> tuple[Path, str]:
    """The DICOM SEG or RTSTRUCT file `path` is or holds, and its Modality."""
    if path.is_file():
        modality = _modality(path, strict=True)
        if modality not in _MASK_MODALITIES:
            what = f"a DICOM {modality} file" if modality else "a DICOM file without Modality"
            raise InputError(path, f"{what}, not a mask (SEG, RTSTRUCT, NRRD or NIfTI label volume)")
        return path, modality
    found = [(file, m) for file in _files(path) if (m := _modality(file, strict=False)) in _MASK_MODALITIES]
    if not found:
        raise InputError(path, "no DICOM SEG or RTSTRUCT file in this folder")
    if len(found) > 1:
        names = ", ".join(f"{file.relative_to(path)} ({m})" for file, m in found)
        raise InputError(path, f"{len(found)} mask files ({names}); name one")
    return found[0]


def _files(folder: Path) -> list[Path]:
    """Files under `folder`, hidden ones (and those in hidden folders) left out, sorted."""
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.parts)
    )


def _modality(path: Path, *, strict: bool) -> str | None:
    """A DICOM file's Modality ('' if absent); None for a file that is not DICOM, unless `strict`."""
    not_a_mask = "not a mask file: neither a NRRD/NIfTI label volume nor DICOM"
    try:
        with path.open("rb") as fp:
            has_magic = fp.read(132)[128:] == b"DICM"
            if not has_magic and not strict:
                return None  # a folder's other files are not parsed: they may be large and not DICOM
            fp.seek(0)
            tags = ["Modality", "SOPClassUID"]
            ds = dcmread(fp, stop_before_pixels=True, force=not has_magic, specific_tags=tags)
    except OSError as exc:
        raise InputError(path, f"cannot be read ({exc.strerror or exc})") from exc
    except Exception as exc:  # pydicom raises many types on junk
        if strict:
            raise InputError(path, f"{not_a_mask} ({one_line(exc)})") from exc
        return None
    if not has_magic and "SOPClassUID" not in ds:
        if strict:
            raise InputError(path, not_a_mask)
        return None
    return str(ds.get("Modality", "") or "")

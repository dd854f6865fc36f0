"""Whether a DICOM mask (SEG, RTSTRUCT) belongs to the reference CT series.

A mask drawn on another series (another reconstruction, another visit) may lie in the same frame
of reference and still not on these voxels, so it is refused rather than placed by coordinates.
UIDs are not patient identifiers; they are what a user needs to find the right files.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from radiomicgan.errors import InputError
from radiomicgan.io.volume import Volume


@dataclass(frozen=True)
class CtIdentity:
    """The UIDs of the reference CT a DICOM mask must reference.

    Attributes:
        frame_of_reference_uid: FrameOfReferenceUID of the series.
        series_uid: SeriesInstanceUID.
        slice_of_instance: SOPInstanceUID -> slice index in the Volume.
    """

    frame_of_reference_uid: str
    series_uid: str
    slice_of_instance: dict[str, int]

    @classmethod
    def of(cls, reference: Volume, path: Path, kind: str) -> CtIdentity:
        """The identity of a CT read from DICOM.

        Raises:
            InputError: the CT was not read from DICOM (NRRD, NIfTI, memory): what the mask
                references cannot be checked, so it is not read.
        """
        if reference.datasets is None or not reference.meta.series_uid:
            raise InputError(
                path,
                f"a DICOM {kind} can only be read onto the DICOM CT series it references; "
                f"this CT is {reference.source_format}, without DICOM UIDs to check",
            )
        uids = {str(ds.get("SOPInstanceUID", "")): i for i, ds in enumerate(reference.datasets)}
        return cls(reference.meta.frame_of_reference_uid, reference.meta.series_uid, uids)


def check_references(
    path: Path,
    ct: CtIdentity,
    *,
    frames_of_reference: Collection[str],
    series_uids: Collection[str],
    instance_uids: Collection[str],
) -> None:
    """Refuse a mask that references another frame of reference, series or instances than the CT's.

    Args:
        path: the mask file, for the message.
        ct: the reference CT's identity.
        frames_of_reference: FrameOfReferenceUIDs the mask declares (none: not checked).
        series_uids: SeriesInstanceUIDs it references (none: not checked).
        instance_uids: SOPInstanceUIDs of the images it was drawn on (none: not checked).

    Raises:
        InputError: "references another series ...", naming what it references and what the CT is.
    """
    known = {uid for uid in frames_of_reference if uid}
    if known and ct.frame_of_reference_uid not in known:
        raise InputError(
            path,
            f"references another series: frame of reference {_listed(known)}, "
            f"not the CT's {ct.frame_of_reference_uid or '(none)'}",
        )
    series = {uid for uid in series_uids if uid}
    if series and ct.series_uid not in series:
        raise InputError(path, f"references another series ({_listed(series)}), not the CT's {ct.series_uid}")
    missing = {uid for uid in instance_uids if uid} - ct.slice_of_instance.keys()
    if missing:
        raise InputError(
            path,
            f"references another series: images not in the CT series {ct.series_uid} "
            f"({len(missing)}, e.g. {min(missing)})",
        )


def _listed(uids: set[str]) -> str:
    return ", ".join(sorted(uids))

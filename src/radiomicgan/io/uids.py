"""Deterministic DICOM UIDs.

Every UID the toolkit makes is a hash of what it identifies (a source UID, a model, an index), so
running the same job twice writes byte-identical files and never mints a UID from the clock.
"""

from __future__ import annotations

from pydicom.uid import generate_uid

# A fixed first entropy source keeps our UIDs apart from any other tool hashing the same strings.
_NAMESPACE = "radiomicgan"


def deterministic_uid(*parts: str) -> str:
    """A UID derived only from `parts` (under pydicom's UID root).

    Args:
        parts: strings that together identify the object, e.g. ("series", source_uid, model_id).

    Returns:
        A valid UID of at most 64 characters; equal parts give equal UIDs.

    Raises:
        ValueError: no part was given.
    """
    if not parts:
        raise ValueError("deterministic_uid needs at least one part")
    return str(generate_uid(entropy_srcs=[_NAMESPACE, *parts]))


def instance_uid(series_uid: str, index: int) -> str:
    """The SOPInstanceUID of slice `index` (0-based) of a series built from scratch."""
    return deterministic_uid("instance", series_uid, str(index))

"""Turn a source slice's dataset into the dataset of a derived (harmonized) slice.

The derived series belongs to the same study and frame of reference as its source, so a viewer
shows both side by side and registration-free comparisons stay valid; it gets its own series and
instance UIDs, hashed from the source UIDs and the model so a rerun reproduces the same files.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from radiomicgan.io.convolution_kernel import DICOM_SEPARATOR, DISPLAY_SEPARATOR
from radiomicgan.io.uids import deterministic_uid

_IS_MAX = 2**31 - 1  # IS values are signed 32-bit integers
_SERIES_NUMBER_OFFSET = 1000  # derived series sort after their source in a viewer
_LO_MAX = 64  # characters in a LO value (SeriesDescription)
_ST_MAX = 1024  # characters in a ST value (DerivationDescription)


@dataclass(frozen=True)
class Derivation:
    """Provenance of a derived series.

    Attributes:
        method: the method's name, e.g. "RadiomicGAN".
        description: one line for people, e.g. "Harmonized from B30f to B60f by RadiomicGAN".
        model_id: a hash of the model (weights and inference settings); part of every new UID.

    Raises:
        ValueError: `method` or `model_id` is empty.
    """

    method: str
    description: str
    model_id: str

    def __post_init__(self) -> None:
        if not self.method.strip() or not self.model_id.strip():
            raise ValueError("Derivation needs a method name and a model_id")

    def series_description(self) -> str:
        """SeriesDescription: one value of at most 64 characters that names the method."""
        text = _one_value(self.description) or f"Harmonized by {self.method}"
        if self.method not in text:
            text = f"{self.method}: {text}"
        return fit_words(text, _LO_MAX)

    def derivation_description(self) -> str:
        """DerivationDescription (at most 1024 characters): description, method and model."""
        text = f"{_one_value(self.description)} (method {self.method}, model {self.model_id})"
        return fit_words(text.strip(), _ST_MAX)


def fit_words(text: str, limit: int) -> str:
    """`text` shortened to at most `limit` characters at a word boundary (a lone word is cut)."""
    if len(text) <= limit:
        return text
    cut = text[: limit + 1].rsplit(" ", 1)[0].rstrip(" :,;(")
    return cut if cut and len(cut) <= limit else text[:limit]


def _one_value(text: str) -> str:
    """One line of text that stays one DICOM value: '\\' separates values, control characters are
    not allowed in LO; a kernel's values are shown as `io.convolution_kernel` shows them."""
    return " ".join(text.replace(DICOM_SEPARATOR, DISPLAY_SEPARATOR).split())


def derived_series_uid(source_series_uid: str, derivation: Derivation) -> str:
    """SeriesInstanceUID of the series derived from `source_series_uid` by `derivation`."""
    return deterministic_uid("series", source_series_uid, derivation.method, derivation.model_id)


def derived_instance_uid(source_sop_uid: str, derivation: Derivation) -> str:
    """SOPInstanceUID of the slice derived from `source_sop_uid` by `derivation`."""
    return deterministic_uid("instance", source_sop_uid, derivation.method, derivation.model_id)


def derive_dataset(ds: Dataset, derivation: Derivation, series_uid: str) -> None:
    """Rewrite a copy of a source slice's dataset, in place, as a slice of the derived series.

    Every other tag is kept (patient and study modules, private tags); no date or time of "now" is
    written, so the result depends only on the inputs.

    Args:
        ds: a copy of the source dataset (changed in place).
        derivation: who made the derived series and how.
        series_uid: the derived series' UID (from `derived_series_uid`).

    Raises:
        ValueError: the source dataset has no SOPInstanceUID or SOPClassUID.
    """
    source_sop = str(ds.get("SOPInstanceUID", "") or "")
    source_class = str(ds.get("SOPClassUID", "") or "")
    if not source_sop or not source_class:
        raise ValueError("a source dataset without SOPInstanceUID/SOPClassUID cannot be derived from")
    ds.SeriesInstanceUID = series_uid
    ds.SOPInstanceUID = derived_instance_uid(source_sop, derivation)
    ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
    ds.SeriesDescription = derivation.series_description()
    ds.DerivationDescription = derivation.derivation_description()
    ds.SeriesNumber = _derived_series_number(ds.get("SeriesNumber"))
    reference = Dataset()
    reference.ReferencedSOPClassUID = source_class
    reference.ReferencedSOPInstanceUID = source_sop
    purpose = Dataset()  # CID 7202: the source was the input of an image processing operation
    purpose.CodeValue = "121322"
    purpose.CodingSchemeDesignator = "DCM"
    purpose.CodeMeaning = "Source image for image processing operation"
    reference.PurposeOfReferenceCodeSequence = Sequence([purpose])
    ds.SourceImageSequence = Sequence([reference])
    # The source's creation stamp and thumbnail describe the source instance, not this one.
    for keyword in ("InstanceCreationDate", "InstanceCreationTime", "IconImageSequence"):
        if keyword in ds:
            delattr(ds, keyword)


def _derived_series_number(value: object) -> int:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return _SERIES_NUMBER_OFFSET
    if number + _SERIES_NUMBER_OFFSET <= _IS_MAX:
        return number + _SERIES_NUMBER_OFFSET
    return number - _SERIES_NUMBER_OFFSET

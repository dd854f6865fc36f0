"""Numbers from DICOM attributes: one finite value each, or an InvalidSeriesError naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from radiomicgan.errors import InvalidSeriesError
from radiomicgan.io.dicom_values import integer, number, numbers

# pydicom warns about the damaged values these tests build on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydicom.*")
FILE = Path("slice.dcm")


def _with_raw(keyword: str, vr: str, value: bytes) -> Dataset:
    """A dataset holding the element as a file would: bytes that pydicom converts on first use."""
    ds = Dataset()
    ds[Tag(keyword)] = RawDataElement(Tag(keyword), vr, len(value), value, 0, False, True)
    return ds


def test_reads_numbers_of_every_numeric_vr() -> None:
    ds = Dataset()
    ds.PixelSpacing = ["0.7", "0.68"]
    ds.Rows = 512
    ds.InstanceNumber = "12"
    assert numbers(ds, "PixelSpacing", FILE, 2) == [0.7, 0.68]
    assert integer(ds, "Rows", FILE) == 512
    assert integer(ds, "InstanceNumber", FILE) == 12


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"abc ", "PixelSpacing has 1 values, expected 2"),
        (b"abc\\1 ", r"PixelSpacing is not numeric \(\"\['abc', '1'\]\"\)"),
        (b"NaN\\1 ", "PixelSpacing is not finite"),
        (b"1e999\\1", "PixelSpacing is not finite"),
        (b"", "missing PixelSpacing"),
    ],
)
def test_a_damaged_value_names_the_file_and_the_attribute(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidSeriesError, match=message) as caught:
        numbers(_with_raw("PixelSpacing", "DS", raw), "PixelSpacing", FILE, 2)
    assert caught.value.path == FILE


def test_an_integer_must_be_whole_and_a_number_single() -> None:
    with pytest.raises(InvalidSeriesError, match=r"NumberOfFrames is not an integer \(2.5\)"):
        integer(_with_raw("NumberOfFrames", "IS", b"2.5 "), "NumberOfFrames", FILE)
    with pytest.raises(InvalidSeriesError, match="RescaleSlope has 2 values, expected 1"):
        number(_with_raw("RescaleSlope", "DS", b"1\\2 "), "RescaleSlope", FILE)


def test_a_long_value_is_cut_short_in_the_message() -> None:
    with pytest.raises(InvalidSeriesError) as caught:
        number(_with_raw("RescaleSlope", "DS", b"x" * 200), "RescaleSlope", FILE)
    assert len(caught.value.reason) < 80

"""Fuzzing the DICOM reader: a damaged file gives the right volume or an InputError, nothing else.

Each property starts from valid CT files (a synthetic series from `make_ct_series` and pydicom's
real CT_small.dcm), damages one file (a tag deleted, a tag set to an odd value, the file cut short,
bytes flipped) and reads the folder. The reader must then either raise an `InputError` naming a
path in that folder, or return a volume that is right:

* after a deletion or a truncation, exactly the undamaged volume (no tag that may be deleted
  changes HU, and a truncated file never reads as whole);
* after an odd value or flipped bytes, a volume faithful to what the damaged files say (each
  slice is stored values x RescaleSlope + RescaleIntercept, pixel data of exactly
  Rows x Columns x BitsAllocated, finite HU and geometry), for a file that says another slope
  legitimately scales its HU and no reader can know better.

RescaleSlope and RescaleIntercept are Type 1 in the CT Image module (PS3.3 C.8.2.1): the reader
documents that it refuses a slice without them rather than guess 1 and 0 (or -1024), which would
shift every HU of a scanner that stores unsigned values.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from tests.conftest import PYDICOM_TEST_FILES, make_ct_series

from radiomicgan.cli import main
from radiomicgan.errors import InputError, RadiomicGANError, SeveralSeriesError
from radiomicgan.io import Volume, read_volume

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure here is reproducible as is
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Deleting any of these must be refused: without them no reader can tell what the pixels are.
REQUIRED = (
    "RescaleSlope",
    "RescaleIntercept",
    "PixelSpacing",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "Modality",
    "SOPClassUID",
    "SeriesInstanceUID",
    "PixelData",
)
# Deleting these changes no HU: the volume must read exactly as before.
OPTIONAL = ("SliceThickness", "HighBit", "ImageType", "ConvolutionKernel", "StudyInstanceUID")

# Odd values, written as the raw bytes of the element (pydicom refuses to build most of them).
ODD_TEXT = {
    "RescaleSlope": ["0", "-1", "2", "1e308", "NaN", "inf", "abc", "", "1\\2"],
    "RescaleIntercept": ["1e308", "-1e39", "NaN", "-inf", "abc", "", "-1024\\0", "3.5"],
    "PixelSpacing": ["0\\0.68", "-0.7\\0.68", "NaN\\1", "inf\\1", "0.7", "0.7\\0.68\\1", "abc\\1", ""],
    "ImagePositionPatient": ["NaN\\0\\0", "inf\\0\\0", "1e308\\0\\0", "0\\0", "", "a\\b\\c"],
    "ImageOrientationPatient": ["0\\0\\0\\0\\0\\0", "1\\0\\0\\1\\0\\0", "NaN\\0\\0\\0\\1\\0", "1\\0\\0\\0"],
    "PhotometricInterpretation": ["RGB", "PALETTE COLOR", "MONOCHROME1", "", "YBR_FULL"],
    "Modality": ["MR", "", "ct", "CT\\MR"],
    "SeriesInstanceUID": ["", "1.2.3.4"],
    "SOPClassUID": ["1.2.840.10008.5.1.4.1.1.4", "", "1.2.840.10008.5.1.4.1.1.2.1"],
    "NumberOfFrames": ["0", "1", "2", "abc", "-1"],
    "SliceThickness": ["0", "-1", "NaN", "abc", ""],
    "ImageType": ["ORIGINAL\\PRIMARY\\LOCALIZER", ""],
}
ODD_NUMBERS = {
    "Rows": [0, 1, 8, 15, 17, 65535],
    "Columns": [0, 1, 8, 65535],
    "BitsAllocated": [0, 1, 7, 8, 12, 32, 64],
    "BitsStored": [0, 1, 8, 17, 64],
    "HighBit": [0, 31, 64],
    "PixelRepresentation": [0, 1, 2, 65535],
    "SamplesPerPixel": [0, 3],
}
ODD_VALUES = [(k, v) for k, values in ODD_TEXT.items() for v in values] + [
    (k, v) for k, values in ODD_NUMBERS.items() for v in values
]


@dataclass(frozen=True)
class Base:
    """A valid series: its files' bytes, and the volume it reads as."""

    name: str
    files: dict[str, bytes]
    volume: Volume

    def file_names(self) -> list[str]:
        return sorted(self.files)


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Base]:
    root = tmp_path_factory.mktemp("bases")
    # 3 slices of 16 x 16: mostly header bytes, so flipped bytes hit tags more often than pixels.
    synthetic = make_ct_series(root / "synthetic", slices=3, rows=16, columns=16)
    real = root / "ct_small"
    real.mkdir()
    shutil.copy(PYDICOM_TEST_FILES / "CT_small.dcm", real)
    found = {}
    for folder in (synthetic.folder, real):
        files = {path.name: path.read_bytes() for path in sorted(folder.iterdir())}
        found[folder.name] = Base(folder.name, files, read_volume(folder))
    assert np.array_equal(found["synthetic"].volume.hu, synthetic.hu)
    return found


BASE_NAMES = st.sampled_from(["synthetic", "ct_small"])


@contextmanager
def _damaged(base: Base, index: int, damage: Callable[[bytes], bytes]) -> Iterator[tuple[Path, Path]]:
    """A temporary copy of the series with one file damaged; yields (folder, damaged file)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / base.name
        folder.mkdir()
        names = base.file_names()
        victim = folder / names[index % len(names)]
        for name, data in base.files.items():
            (folder / name).write_bytes(data)
        victim.write_bytes(damage(victim.read_bytes()))
        yield folder, victim


def _edited(change: Callable[[Dataset], None]) -> Callable[[bytes], bytes]:
    """A damage that edits the dataset with pydicom and writes it back in its own encoding."""

    def damage(data: bytes) -> bytes:
        with tempfile.NamedTemporaryFile(suffix=".dcm") as handle:
            Path(handle.name).write_bytes(data)
            ds = pydicom.dcmread(handle.name)
            change(ds)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pydicom warns about the odd values we mean
                ds.save_as(handle.name)
            return Path(handle.name).read_bytes()

    return damage


def _delete(keyword: str) -> Callable[[Dataset], None]:
    def change(ds: Dataset) -> None:
        del ds[Tag(keyword)]

    return change


def _set(keyword: str, value: str | int) -> Callable[[Dataset], None]:
    def change(ds: Dataset) -> None:
        tag = Tag(keyword)
        vr = dictionary_VR(tag)
        if isinstance(value, int):
            ds[tag] = DataElement(tag, vr, value)
            return
        raw = value.encode("ascii")
        raw += (b"\0" if vr == "UI" else b" ") * (len(raw) % 2)
        ds[tag] = RawDataElement(tag, vr, len(raw), raw, 0, bool(ds.original_encoding[0]), True)

    return change


def _read_or_refuse(folder: Path) -> Volume | None:
    """The volume, or None when the reader refused with an InputError naming a path in `folder`.

    Any other exception fails the test.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return read_volume(folder)
    except RadiomicGANError as exc:
        assert isinstance(exc, InputError), repr(exc)
        assert exc.path == folder or folder in exc.path.parents, exc
        assert "\n" not in exc.reason
        return None


def _assert_same(volume: Volume, expected: Volume) -> None:
    assert np.array_equal(volume.hu, expected.hu)
    assert volume.spacing_zyx_mm == expected.spacing_zyx_mm
    assert volume.origin_xyz_mm == expected.origin_xyz_mm
    assert np.array_equal(volume.direction, expected.direction)


def _assert_faithful(volume: Volume) -> None:
    """Each slice as its file says, with finite HU and a proper geometry."""
    assert np.isfinite(volume.hu).all()
    assert all(np.isfinite(s) and s > 0 for s in volume.spacing_zyx_mm), volume.spacing_zyx_mm
    assert np.isfinite(volume.origin_xyz_mm).all()
    direction = np.asarray(volume.direction)
    assert np.allclose(direction.T @ direction, np.eye(3), atol=1e-3)
    assert volume.datasets is not None
    for z, header in enumerate(volume.datasets):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(header.filename, force=True)
        if "TransferSyntaxUID" not in ds.file_meta:  # damaged meta: decode as the dataset was parsed
            implicit, little = ds.original_encoding
            explicit = ExplicitVRLittleEndian if little else ExplicitVRBigEndian
            ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else explicit
        assert volume.hu[z].shape == (ds.Rows, ds.Columns)
        expected_bytes = ds.Rows * ds.Columns * ds.BitsAllocated // 8
        assert len(ds.PixelData) in (expected_bytes, expected_bytes + 1)
        stored: NDArray[np.float64] = ds.pixel_array.astype(np.float64)
        expected_hu = stored * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        assert np.array_equal(volume.hu[z], expected_hu.astype(np.float32))


@FUZZ
@given(name=BASE_NAMES, index=st.integers(0, 2), keyword=st.sampled_from(REQUIRED + OPTIONAL))
def test_a_deleted_tag_is_refused_or_changes_nothing(
    bases: dict[str, Base], name: str, index: int, keyword: str
) -> None:
    base = bases[name]
    with _damaged(base, index, _edited(_delete(keyword))) as (folder, _):
        volume = _read_or_refuse(folder)
    if keyword in REQUIRED:
        assert volume is None, f"read a series whose file lacks {keyword}"
    else:
        assert volume is not None, f"refused a series whose file lacks only {keyword}"
        _assert_same(volume, base.volume)


@FUZZ
@given(name=BASE_NAMES, index=st.integers(0, 2), odd=st.sampled_from(ODD_VALUES))
def test_an_odd_value_is_refused_or_read_as_the_file_says(
    bases: dict[str, Base], name: str, index: int, odd: tuple[str, str | int]
) -> None:
    keyword, value = odd
    with _damaged(bases[name], index, _edited(_set(keyword, value))) as (folder, _):
        volume = _read_or_refuse(folder)
        if volume is not None:
            _assert_faithful(volume)


@FUZZ
@given(name=BASE_NAMES, index=st.integers(0, 2), fraction=st.floats(0.0, 1.0, exclude_max=True))
def test_a_truncated_file_never_reads_as_whole(
    bases: dict[str, Base], name: str, index: int, fraction: float
) -> None:
    base = bases[name]
    with _damaged(base, index, lambda data: data[: int(fraction * len(data))]) as (folder, _):
        volume = _read_or_refuse(folder)
    # CT_small.dcm ends in trailing padding after its pixels: cutting that loses no pixel.
    if volume is not None:
        _assert_same(volume, base.volume)


def _flip(flips: list[tuple[float, int]]) -> Callable[[bytes], bytes]:
    def damage(data: bytes) -> bytes:
        damaged = bytearray(data)
        for where, value in flips:
            damaged[int(where * len(data))] ^= value
        return bytes(damaged)

    return damage


# (where in the file, as a fraction of its length; the XOR mask)
FLIPS = st.lists(
    st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=6
)


@FUZZ
@given(name=BASE_NAMES, index=st.integers(0, 2), flips=FLIPS)
def test_flipped_bytes_are_refused_or_read_as_the_file_says(
    bases: dict[str, Base], name: str, index: int, flips: list[tuple[float, int]]
) -> None:
    with _damaged(bases[name], index, _flip(flips)) as (folder, _):
        volume = _read_or_refuse(folder)
        if volume is not None:
            _assert_faithful(volume)


DAMAGES = st.one_of(
    st.sampled_from(REQUIRED + OPTIONAL).map(lambda k: _edited(_delete(k))),
    st.sampled_from(ODD_VALUES).map(lambda odd: _edited(_set(*odd))),
    st.floats(0.0, 1.0, exclude_max=True).map(lambda f: lambda data: data[: int(f * len(data))]),
    FLIPS.map(_flip),
)


@settings(FUZZ, max_examples=40)
@given(name=BASE_NAMES, index=st.integers(0, 2), damage=DAMAGES)
def test_info_lists_or_refuses_in_one_line(
    bases: dict[str, Base],
    name: str,
    index: int,
    damage: Callable[[bytes], bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:
    with _damaged(bases[name], index, damage) as (folder, _):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                read_volume(folder)
            refused: RadiomicGANError | None = None
        except RadiomicGANError as exc:
            refused = exc
        capsys.readouterr()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            code = main(["info", str(folder)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    if code == 2:
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("radiomicgan info: error: "), lines
        assert refused is not None, "info refused a series the reader reads"
        return
    assert code == 0, captured
    # info lists what it finds; a series the reader cannot read is listed with the reason.
    listed_as_is = (
        refused is None or isinstance(refused, SeveralSeriesError) or "no CT series" in str(refused)
    )
    if not listed_as_is:
        assert "problem:" in captured.out, captured.out

"""Find the DICOM image series under a file or folder tree, reading headers only.

A folder handed to the toolkit often holds more than one CT series, plus DICOMDIRs, structured
reports, RT objects and notes. Discovery groups the image files by SeriesInstanceUID and skips
everything that is not an image, so the reader can pick a series or say clearly why it cannot.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pydicom import dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.uid import UID

from radiomicgan.errors import InputError, InvalidSeriesError
from radiomicgan.io.convolution_kernel import kernel_of, kernel_text

logger = logging.getLogger(__name__)

# Suffixes under which a file claims to be DICOM: failing to parse one of these is an error.
DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".ima"})
# Files that are certainly not DICOM are not even opened (a folder may hold large NIfTI/NRRD files).
_NON_DICOM_SUFFIXES = frozenset(
    {".txt", ".md", ".json", ".csv", ".yaml", ".yml", ".xml", ".html", ".pdf", ".png", ".jpg", ".jpeg"}
    | {".nrrd", ".nhdr", ".nii", ".gz", ".raw", ".npy", ".npz", ".pt", ".safetensors", ".py", ".log"}
)
_PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})  # Pixel Data, Float and Double Float
_UNDEFINED_LENGTH = 0xFFFFFFFF
_META_START = 132  # preamble and "DICM"
_LONG_LENGTH_VRS = frozenset({b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN", b"SQ", b"UT", b"UC", b"UR"})


class _TruncatedError(Exception):
    """A parsed file whose last element ends beyond the end of the file."""


@dataclass(frozen=True)
class SeriesRef:
    """One DICOM image series found on disk, known from its headers only.

    Attributes:
        series_uid: SeriesInstanceUID shared by all its files.
        study_uid: StudyInstanceUID ('' if absent).
        frame_of_reference_uid: FrameOfReferenceUID ('' if absent).
        modality: Modality, e.g. 'CT' or 'MR' ('' if absent).
        kernel: ConvolutionKernel, values stripped and joined by '\\' ('' if absent; `io.convolution_kernel`).
        description: SeriesDescription ('' if absent).
        files: the series' files, sorted by path (not by slice position).
        folder: the deepest folder holding all the files.
        transfer_syntaxes: distinct transfer syntax names of the files.
        series_number: SeriesNumber, or None if absent.
    """

    series_uid: str
    study_uid: str
    frame_of_reference_uid: str
    modality: str
    kernel: str
    description: str
    files: tuple[Path, ...]
    folder: Path
    transfer_syntaxes: tuple[str, ...] = ()
    series_number: int | None = None

    @property
    def is_ct(self) -> bool:
        """True for a CT series (Modality CT)."""
        return self.modality == "CT"

    def label(self) -> str:
        """One line naming the series for messages: UID, description, kernel, number of files."""
        return (
            f"{self.series_uid} ({self.modality or 'no modality'}, description {self.description!r}, "
            f"kernel {kernel_text(self.kernel)!r}, {len(self.files)} slices)"
        )


@dataclass(frozen=True)
class Survey:
    """Everything found under a path, for a survey that must not stop at the first bad file.

    Attributes:
        series: the image series, as `find_series` returns them.
        unreadable: one error per file that claims to be DICOM but cannot be read, or an image
            without SeriesInstanceUID; each names its file.
        non_images: (file, what it is) per DICOM file without pixel data, e.g.
            "RTSTRUCT (RT Structure Set Storage)".
    """

    series: list[SeriesRef]
    unreadable: list[InputError]
    non_images: list[tuple[Path, str]]


def find_series(root: str | Path) -> list[SeriesRef]:
    """Group the DICOM image files under `root` by SeriesInstanceUID, reading headers only.

    Files without pixel data (DICOMDIR, SR, RT structures and plans, presentation states) and files
    that are not DICOM are skipped. Hidden files and folders (name starting with '.') are skipped too,
    so a half-written temporary output of ours never shows up as a series.

    Args:
        root: a DICOM file or a folder searched recursively.

    Returns:
        The image series of every modality, sorted by folder then series UID.

    Raises:
        InputError: `root` does not exist.
        InvalidSeriesError: a file that claims to be DICOM (DICM magic or a .dcm/.dicom/.ima name)
            cannot be parsed or is truncated, or an image has no SeriesInstanceUID; the message
            names the file.
    """
    return _scan(root, strict=True).series


def survey(root: str | Path) -> Survey:
    """As `find_series`, but a file that cannot be read is noted in the result instead of raised.

    Raises:
        InputError: `root` does not exist.
    """
    return _scan(root, strict=False)


def _scan(root: str | Path, *, strict: bool) -> Survey:
    root = Path(root)
    if not root.exists():
        raise InputError(root, "does not exist")
    # Per series: its first header, its files and their transfer syntaxes. Keeping every header
    # would hold tens of kB per file: gigabytes over an archive.
    groups: dict[str, tuple[Dataset, list[Path], set[str]]] = {}
    found = Survey([], [], [])
    for path in _walk_files(root):
        try:
            inspected = _read_header(path)
            if inspected is None:
                continue
            header, has_pixels = inspected
            if not has_pixels:
                found.non_images.append((path, describe_non_image(header)))
                continue
            series_uid = str(header.get("SeriesInstanceUID", "") or "")
            if not series_uid:
                # Type 1: without it the image cannot be told apart from other series' images.
                raise InvalidSeriesError(path, "DICOM image without SeriesInstanceUID")
        except InputError as exc:
            if strict:
                raise
            found.unreadable.append(exc)
            continue
        _, files, syntaxes = groups.setdefault(series_uid, (header, [], set()))
        files.append(path)
        syntaxes.add(transfer_syntax_name(header))
    refs = [_series_ref(uid, *group) for uid, group in groups.items()]
    found.series.extend(sorted(refs, key=lambda r: (str(r.folder), r.series_uid)))
    return found


def describe_non_image(ds: Dataset) -> str:
    """What a DICOM file without pixel data is, e.g. "RTSTRUCT (RT Structure Set Storage)"."""
    meta = getattr(ds, "file_meta", None)
    sop_class = ds.get("SOPClassUID") or (meta.get("MediaStorageSOPClassUID") if meta is not None else "")
    name = UID(str(sop_class)).name if sop_class else "unknown SOP class"
    modality = str(ds.get("Modality", "") or "")
    return f"{modality} ({name})" if modality else name


def read_image_header(path: Path) -> Dataset | None:
    """Read one file's header if it is a DICOM image (a SOP instance with pixel data).

    Args:
        path: the file to inspect.

    Returns:
        The dataset without pixel data, or None when the file is not a DICOM image.

    Raises:
        InvalidSeriesError: the file claims to be DICOM but cannot be parsed, or is truncated.
    """
    inspected = _read_header(path)
    return inspected[0] if inspected is not None and inspected[1] else None


def _read_header(path: Path) -> tuple[Dataset, bool] | None:
    """A DICOM file's header and whether pixel data follows; None when the file is not DICOM."""
    suffix = path.suffix.lower()
    try:
        with path.open("rb") as fp:
            head = fp.read(132)
            has_magic = len(head) == 132 and head[128:] == b"DICM"
            claims_dicom = has_magic or suffix in DICOM_SUFFIXES
            if not claims_dicom and suffix in _NON_DICOM_SUFFIXES:
                return None
            if not has_magic and not _starts_like_a_dataset(head):
                # Checked before parsing: pydicom would read junk "lengths" of gigabytes into memory.
                if claims_dicom:
                    raise InvalidSeriesError(path, "not a DICOM file")
                return None
            fp.seek(0)
            return _parse_header(fp, path, has_magic, claims_dicom)
    except OSError as exc:
        raise InputError(path, f"cannot be read ({exc.strerror or exc})") from exc


def transfer_syntax_name(ds: Dataset) -> str:
    """The name of the transfer syntax a dataset was read with (inferred when it has no file meta)."""
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if uid:
        return str(UID(str(uid)).name)
    implicit, little = ds.original_encoding
    vr = "Implicit" if implicit else "Explicit"
    endian = "Little" if little in (True, None) else "Big"
    return f"{vr} VR {endian} Endian (no file meta)"


def _parse_header(
    fp: BinaryIO, path: Path, has_magic: bool, claims_dicom: bool
) -> tuple[Dataset, bool] | None:
    size = os.fstat(fp.fileno()).st_size
    parsed = False
    try:
        # force=True lets files without preamble and meta through; junk is sorted out below.
        ds = dcmread(fp, stop_before_pixels=True, force=True)
        is_dicom = has_magic or "SOPClassUID" in ds
        if not is_dicom:
            if claims_dicom:
                raise InvalidSeriesError(path, "not a DICOM file")
            return None
        if has_magic:
            _check_meta_complete(ds, size)
        has_pixels = _has_pixel_data(fp, ds, path, size)
        _check_complete(ds)  # before converting: it needs the raw elements' declared lengths
        parsed = True
        convert_elements(ds)
    except _TruncatedError as exc:
        raise InvalidSeriesError(path, f"truncated DICOM file ({exc})") from exc
    except InvalidSeriesError:
        raise
    except Exception as exc:  # pydicom raises many types on junk (struct, Value, Key, Unicode errors)
        if not claims_dicom:
            return None
        unparsed = "truncated DICOM file" if has_magic else "not a DICOM file"
        reason = "damaged DICOM file" if parsed else unparsed
        raise InvalidSeriesError(path, f"{reason} ({type(exc).__name__}: {one_line(exc)})") from exc
    _check_image_identity(ds, path, has_pixels)
    ds.filename = str(path)
    return ds, has_pixels


def _check_image_identity(ds: Dataset, path: Path, has_pixels: bool) -> None:
    """Refuse a DICOM file that would otherwise be skipped as "not an image" although it is one.

    A file cut short before its pixel data, or one that lost its SOP Class UID, would silently drop
    out of its series and leave a volume a slice short (a missing end slice leaves no gap to see).
    SOPClassUID is Type 1 (SOP Common module), and so is the file meta's MediaStorageSOPClassUID.
    """
    meta = getattr(ds, "file_meta", None)
    sop_class = ds.get("SOPClassUID") or (meta.get("MediaStorageSOPClassUID") if meta is not None else None)
    if not sop_class:
        raise InvalidSeriesError(path, "DICOM file without SOP Class UID (truncated or damaged?)")
    if has_pixels and not ds.get("SOPClassUID"):
        raise InvalidSeriesError(path, "DICOM image without SOPClassUID")
    name = UID(str(sop_class)).name
    if not has_pixels and "Image Storage" in name:
        raise InvalidSeriesError(path, f"{name} file without pixel data (truncated or damaged?)")


def _starts_like_a_dataset(head: bytes) -> bool:
    """Whether a file without preamble may be a bare DICOM dataset.

    Its elements are sorted by tag and an image needs SOPClassUID (0008,0016), so the first element
    belongs to group 0000 (command), 0002 (file meta) or 0008, in either byte order.
    """
    if len(head) < 8:
        return False
    groups = {int.from_bytes(head[:2], "little"), int.from_bytes(head[:2], "big")}
    return bool(groups & {0x0000, 0x0002, 0x0008})


def _has_pixel_data(fp: BinaryIO, ds: Dataset, path: Path, size: int) -> bool:
    """Whether the file goes on with pixel data where the header read stopped; checks its length."""
    meta = getattr(ds, "file_meta", None)
    tsyntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if tsyntax is not None and UID(str(tsyntax)).is_deflated:
        # pydicom inflates deflated files into memory, so our file position means nothing there.
        return "PixelData" in dcmread(path, force=True)
    implicit, little = ds.original_encoding
    start = fp.tell()
    head = fp.read(12)
    if not head:
        return False
    if len(head) < 8:
        raise _TruncatedError("the file ends inside an element header")
    endian = "<" if little in (True, None) else ">"
    group, element = struct.unpack(f"{endian}HH", head[:4])
    if (group << 16 | element) not in _PIXEL_TAGS:
        return False
    if implicit or head[4:6] in _LONG_LENGTH_VRS:
        if not implicit and len(head) < 12:
            raise _TruncatedError("the file ends inside the pixel data header")
        offset = 4 if implicit else 8
        header_bytes = offset + 4
        (length,) = struct.unpack(f"{endian}L", head[offset:header_bytes])
    else:
        header_bytes = 8
        (length,) = struct.unpack(f"{endian}H", head[6:8])
    available = size - start - header_bytes
    if length != _UNDEFINED_LENGTH and length > available:
        raise _TruncatedError(f"pixel data has {available} of {length} bytes")
    return True


def convert_elements(ds: Dataset) -> None:
    """Convert every element of a dataset just read, so that a damaged one raises here.

    pydicom converts an element's bytes only when it is first used: an unknown VR or an undecodable
    value would otherwise raise later, from wherever the element happens to be read.
    """
    for _ in ds.iterall():
        pass


def _check_meta_complete(ds: Dataset, size: int) -> None:
    """Raise if the file ends inside its file meta information (pydicom keeps a cut-off UID silently)."""
    meta = getattr(ds, "file_meta", None)
    length = meta.get("FileMetaInformationGroupLength") if meta is not None else None
    # The meta starts after the 128-byte preamble and "DICM"; its 12-byte group length element
    # counts the bytes after itself.
    if isinstance(length, int) and _META_START + 12 + length > size:
        available = max(size - _META_START - 12, 0)
        raise _TruncatedError(f"the file meta information has {available} of {length} bytes")


def _check_complete(ds: Dataset) -> None:
    """Raise if an element's value is shorter than its declared length (pydicom reads those silently)."""
    for elem in ds.elements():
        if isinstance(elem, RawDataElement):
            value = elem.value
            if elem.length != _UNDEFINED_LENGTH and value is not None and len(value) < elem.length:
                raise _TruncatedError(f"element {elem.tag} has {len(value)} of {elem.length} bytes")
        elif elem.VR == "SQ":
            for item in elem.value:
                _check_complete(item)


def _walk_files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # also fixes the walk order
        for name in sorted(names):
            if not name.startswith("."):
                yield Path(folder) / name


def _series_ref(series_uid: str, first: Dataset, paths: list[Path], syntaxes: set[str]) -> SeriesRef:
    files = tuple(sorted(paths))
    folder = Path(os.path.commonpath([str(p.parent) for p in files]))
    return SeriesRef(
        series_uid=series_uid,
        study_uid=str(first.get("StudyInstanceUID", "") or ""),
        frame_of_reference_uid=str(first.get("FrameOfReferenceUID", "") or ""),
        modality=str(first.get("Modality", "") or ""),
        kernel=kernel_of(first),
        description=str(first.get("SeriesDescription", "") or ""),
        files=files,
        folder=folder,
        transfer_syntaxes=tuple(sorted(syntaxes)),
        series_number=_int_or_none(first.get("SeriesNumber")),
    )


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def one_line(exc: BaseException) -> str:
    """An exception message on one line (pydicom's decoder errors span several)."""
    return " ".join(str(exc).split())

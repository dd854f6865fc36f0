"""What is in a folder: one line per image series (or NRRD/NIfTI file), for `radiomicgan info`.

A summary never stops at the first bad series or file: a series that cannot become a volume, and a
file that claims to be DICOM but cannot be read, are listed with the reason, so the user sees at once
which of their series are usable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from radiomicgan.errors import InputError
from radiomicgan.io.convolution_kernel import kernel_text
from radiomicgan.io.dicom_geometry import series_geometry
from radiomicgan.io.dicom_reader import read_series
from radiomicgan.io.discovery import SeriesRef, Survey, read_image_header, survey
from radiomicgan.io.itk_formats import itk_format, read_itk

_COLUMNS = (
    "#",
    "modality",
    "kernel",
    "slices",
    "size",
    "spacing z/y/x mm",
    "HU range",
    "encoding",
    "description",
)


@dataclass(frozen=True)
class SeriesSummary:
    """One series (or volume file) as `radiomicgan info` shows it.

    Attributes:
        path: the series folder, or the NRRD/NIfTI file.
        source_format: "dicom", "nrrd" or "nifti".
        series_uid: SeriesInstanceUID ('' for NRRD/NIfTI).
        description: SeriesDescription (the file name for NRRD/NIfTI).
        modality: Modality ('' for NRRD/NIfTI, which do not say).
        kernel: ConvolutionKernel in the stored form, "Br40d\\3" ('' when unknown); the table shows
            "Br40d/3" (`io.convolution_kernel`).
        slices: number of slices (DICOM: image files).
        rows: image rows, if known.
        columns: image columns, if known.
        spacing_zyx_mm: slice step, row and column spacing in mm, if the geometry is regular.
        hu_min: lowest HU in the volume; CT and NRRD/NIfTI only (else None).
        hu_max: highest HU in the volume; CT and NRRD/NIfTI only (else None).
        transfer_syntaxes: DICOM transfer syntax names of the files.
        problem: why the series cannot be read as a volume ('' when it can).
    """

    path: Path
    source_format: str
    series_uid: str
    description: str
    modality: str
    kernel: str
    slices: int
    rows: int | None = None
    columns: int | None = None
    spacing_zyx_mm: tuple[float, float, float] | None = None
    hu_min: float | None = None
    hu_max: float | None = None
    transfer_syntaxes: tuple[str, ...] = ()
    problem: str = ""


def summarize(path: str | Path) -> list[SeriesSummary]:
    """Summarize every image series under a folder tree, or one file.

    CT series are read whole (pixels decoded) to give their HU range; other modalities from
    their headers only. NRRD/NIfTI files found in the tree get one summary each.

    Args:
        path: a folder, a DICOM file, or a NRRD/NIfTI file.

    Returns:
        The summaries, DICOM series first (by folder and UID), then volume files by path, then one
        per file that claims to be DICOM but cannot be read (its `problem` says why).

    Raises:
        InputError: `path` does not exist, or holds no image series nor volume file that could be
            read (the message says what it holds instead: an unreadable file, an RT structure set).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "does not exist")
    if path.is_file() and itk_format(path) is not None:
        return [_volume_file_summary(path)]
    found = survey(path)
    summaries = [_dicom_summary(ref) for ref in found.series]
    if path.is_dir():
        summaries += [_volume_file_summary(p) for p in _volume_files(path)]
    if not summaries:
        raise _nothing_readable(path, found)
    return summaries + [_unreadable_summary(exc) for exc in found.unreadable]


def format_summary(summaries: list[SeriesSummary]) -> str:
    """A plain-text table of summaries, one row per series, then its UID/path and any problem, then
    one line per file that could not be read.

    Args:
        summaries: from `summarize`.

    Returns:
        Multi-line text (no trailing newline).
    """
    if not summaries:
        return "no image series found"
    # A file read as nothing (slices 0) has no row of numbers to show: one line below the table.
    listed = [s for s in summaries if s.slices > 0]
    unreadable = [s for s in summaries if s.slices == 0]
    rows = [_COLUMNS] + [_row(i + 1, s) for i, s in enumerate(listed)]
    widths = [max(len(row[c]) for row in rows) for c in range(len(_COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.append("")
    for i, s in enumerate(listed, start=1):
        identity = f"series {s.series_uid} in {s.path}" if s.series_uid else str(s.path)
        lines.append(f"{i}: {identity}")
        if s.problem:
            lines.append(f"{' ' * len(str(i))}  problem: {s.problem}")
    if unreadable:
        lines += ["", f"{len(unreadable)} files could not be read:"]
        lines += [f"  {s.path}: problem: {s.problem}" for s in unreadable]
    return "\n".join(lines)


def _row(index: int, s: SeriesSummary) -> tuple[str, ...]:
    size = f"{s.rows}x{s.columns}" if s.rows is not None else "?"
    spacing = "/".join(f"{v:.3g}" for v in s.spacing_zyx_mm) if s.spacing_zyx_mm else "?"
    hu = f"{s.hu_min:g}..{s.hu_max:g}" if s.hu_min is not None and s.hu_max is not None else "-"
    encoding = ", ".join(s.transfer_syntaxes) or s.source_format.upper()
    return (
        str(index),
        s.modality or "-",
        kernel_text(s.kernel) or "-",
        str(s.slices),
        size,
        spacing,
        hu,
        encoding,
        s.description,
    )


def _dicom_summary(ref: SeriesRef) -> SeriesSummary:
    base = SeriesSummary(
        path=ref.folder,
        source_format="dicom",
        series_uid=ref.series_uid,
        description=ref.description,
        modality=ref.modality,
        kernel=ref.kernel,
        slices=len(ref.files),
        transfer_syntaxes=ref.transfer_syntaxes,
    )
    try:
        if ref.is_ct:
            volume = read_series(ref)
            hu_range = float(volume.hu.min()), float(volume.hu.max())
            return _replace_geometry(base, volume.shape, volume.spacing_zyx_mm, hu_range)
        headers = [(h, f) for f in ref.files if (h := read_image_header(f)) is not None]
        geometry = series_geometry([h for h, _ in headers], [f for _, f in headers])
        return _replace_geometry(base, geometry.shape, geometry.spacing_zyx_mm, None)
    except InputError as exc:
        return _with_problem(base, ref, exc.reason)


def _replace_geometry(
    base: SeriesSummary,
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    hu_range: tuple[float, float] | None,
) -> SeriesSummary:
    hu_min, hu_max = hu_range if hu_range is not None else (None, None)
    return replace(
        base, rows=shape[1], columns=shape[2], spacing_zyx_mm=spacing, hu_min=hu_min, hu_max=hu_max
    )


def _with_problem(base: SeriesSummary, ref: SeriesRef, problem: str) -> SeriesSummary:
    header = read_image_header(ref.files[0])
    rows = int(header.Rows) if header is not None and "Rows" in header else None
    columns = int(header.Columns) if header is not None and "Columns" in header else None
    return replace(base, rows=rows, columns=columns, problem=problem)


def _unreadable_summary(exc: InputError) -> SeriesSummary:
    return SeriesSummary(exc.path, "dicom", "", "", "", "", 0, problem=exc.reason)


def _nothing_readable(path: Path, found: Survey) -> InputError:
    """The error for a path without a readable series: its unreadable file, or what it holds instead."""
    if found.unreadable:
        first = found.unreadable[0]
        more = len(found.unreadable) - 1
        return InputError(first.path, first.reason + (f" (and {more} more unreadable files)" if more else ""))
    if len(found.non_images) == 1:
        return InputError(found.non_images[0][0], f"{found.non_images[0][1]}, not an image series")
    if found.non_images:
        kinds = ", ".join(sorted({what for _, what in found.non_images}))
        count = len(found.non_images)
        return InputError(path, f"no image series: {count} DICOM files that are not images ({kinds})")
    return InputError(path, "no image series found (empty folder or no DICOM/NRRD/NIfTI files)")


def _volume_file_summary(path: Path) -> SeriesSummary:
    fmt = itk_format(path) or "nrrd"
    try:
        volume = read_itk(path)
    except InputError as exc:
        return SeriesSummary(path, fmt, "", path.name, "", "", 0, problem=exc.reason)
    base = SeriesSummary(path, fmt, "", path.name, "", "", volume.shape[0])
    hu_range = float(volume.hu.min()), float(volume.hu.max())
    return _replace_geometry(base, volume.shape, volume.spacing_zyx_mm, hu_range)


def _volume_files(root: Path) -> list[Path]:
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(folder) / n for n in sorted(names) if not n.startswith(".") and itk_format(n)]
    # A detached NRRD's data file (.raw/.raw.gz) has no volume suffix, so only headers are listed.
    return found

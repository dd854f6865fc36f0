"""Which CT series go with which masks: pairs named on the command line, or a manifest CSV.

A manifest is a CSV file with a header row and the columns `series` and `mask` (any order), and
optionally `id` (a label of the row copied into the output, e.g. a pseudonymous case number). Paths
may be absolute or relative to the manifest's folder. Every row is checked before anything is read,
so a missing file on row 90 fails the run at once, not after 89 extractions.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from radiomicgan.errors import ConfigError, InputError

MANIFEST_COLUMNS = ("series", "mask")
OPTIONAL_COLUMNS = ("id",)


@dataclass(frozen=True)
class SeriesMask:
    """A CT series (DICOM folder or file, NRRD, NIfTI) and the mask of its regions.

    Attributes:
        series: the CT series' folder or file.
        mask: a label volume (NRRD, NIfTI), a DICOM SEG or an RTSTRUCT on that series.
        id: the manifest's label of the pair ("" when none was given).
    """

    series: Path
    mask: Path
    id: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "series", Path(self.series))  # a str from a notebook is a path too
        object.__setattr__(self, "mask", Path(self.mask))


def pair_inputs(series: Sequence[str | Path], masks: Sequence[str | Path]) -> list[SeriesMask]:
    """Series and masks given in two lists, paired in order.

    Raises:
        ConfigError: no series, or not one mask per series.
    """
    if not series:
        raise ConfigError("features: give at least one CT series (or --manifest)")
    if len(series) != len(masks):
        raise ConfigError(
            f"features: {len(series)} series but {len(masks)} mask(s); give one --mask per series, in order"
        )
    return [SeriesMask(Path(s), Path(m)) for s, m in zip(series, masks, strict=True)]


def read_manifest(path: str | Path) -> list[SeriesMask]:
    """The pairs of a manifest CSV (see the module docstring), each path checked to exist.

    Raises:
        InputError: the manifest is missing or unreadable, lacks a column, has no row or an empty cell,
            or a row names a file that does not exist (named, with the manifest's row).
    """
    path = Path(path)
    rows = _rows(path)
    root = path.parent
    pairs = []
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        cells = {key: (row.get(key) or "").strip() for key in (*MANIFEST_COLUMNS, *OPTIONAL_COLUMNS)}
        for column in MANIFEST_COLUMNS:
            if not cells[column]:
                raise InputError(path, f"row {number}: the {column!r} cell is empty")
        pairs.append(SeriesMask(root / cells["series"], root / cells["mask"], cells["id"]))
    check_exist(pairs, path)
    return pairs


def check_exist(pairs: Sequence[SeriesMask], manifest: Path | None = None) -> None:
    """Refuse a pair whose series or mask does not exist, before anything is read.

    Raises:
        InputError: naming the missing path (and the manifest's row, for a manifest).
    """
    for number, pair in enumerate(pairs, start=2):
        for what, where in (("series", pair.series), ("mask", pair.mask)):
            if not where.exists():
                origin = f" (row {number} of {manifest})" if manifest is not None else ""
                raise InputError(where, f"{what} does not exist{origin}")


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            reader = csv.DictReader(stream)
            header = [name.strip() for name in reader.fieldnames or []]
            reader.fieldnames = header
            rows = list(reader)
    except FileNotFoundError as exc:
        raise InputError(path, "manifest does not exist") from exc
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, f"cannot read the manifest as a UTF-8 CSV ({type(exc).__name__})") from exc
    missing = [column for column in MANIFEST_COLUMNS if column not in header]
    if missing:
        raise InputError(
            path, f"manifest lacks the column(s) {', '.join(missing)} (its header: {', '.join(header)})"
        )
    if not rows:
        raise InputError(path, "manifest has no row")
    return rows

"""Feature tables on disk: CSV or Parquet by the file's suffix, the extraction's metadata beside them.

Parquet keeps the metadata (PyRadiomics parameters, versions, 3-D or per slice) inside the file, as
the key-value metadata entry "radiomicgan" (JSON). CSV cannot, so it goes to a sidecar JSON file
named after the table: `features.csv` -> `features.csv.json`. Either is written whole or not at all
(`io.atomic`), and an existing table is never replaced.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from radiomicgan.errors import OutputError
from radiomicgan.io.atomic import atomic_file, atomic_files, check_outside_inputs

TABLE_SUFFIXES = (".csv", ".parquet")
METADATA_KEY = b"radiomicgan"


def sidecar(out: Path) -> Path:
    """Where a CSV table's metadata goes: the table's name plus ".json"."""
    return out.with_name(out.name + ".json")


def check_table_output(out: Path, inputs: Iterable[Path] = ()) -> None:
    """Refuse, before any work, a table that cannot be written.

    Raises:
        OutputError: the suffix is neither .csv nor .parquet, the table (or a CSV's sidecar) exists,
            or it is one of the inputs.
    """
    out = Path(out)
    if out.suffix.lower() not in TABLE_SUFFIXES:
        raise OutputError(
            out, f"unknown table format {out.suffix or '(no suffix)'!r}: name a .csv or .parquet file"
        )
    check_outside_inputs(out, inputs, is_dir=False)
    for path in (out, sidecar(out)) if out.suffix.lower() == ".csv" else (out,):
        if path.exists() or path.is_symlink():
            raise OutputError(path, "already exists; remove it or name another table")


def write_table(table: pd.DataFrame, out: Path, metadata: Mapping[str, Any]) -> list[Path]:
    """Write a table with its metadata (see the module docstring); returns the files written.

    Raises:
        OutputError: as `check_table_output`, or the folder cannot be written.
    """
    out = Path(out)
    check_table_output(out)
    text = json.dumps(metadata, indent=2, allow_nan=False)
    try:
        if out.suffix.lower() == ".parquet":
            arrow = pa.Table.from_pandas(table, preserve_index=False)
            arrow = arrow.replace_schema_metadata(
                {**(arrow.schema.metadata or {}), METADATA_KEY: text.encode()}
            )
            with atomic_file(out) as temporary:
                pq.write_table(arrow, temporary)
            return [out]
        with atomic_files(out) as temporary:
            table.to_csv(temporary / out.name, index=False)
            (temporary / sidecar(out).name).write_text(text + "\n", encoding="utf-8")
        return [out, sidecar(out)]
    except OSError as exc:
        raise OutputError(out, f"cannot write ({exc.strerror or exc})") from exc

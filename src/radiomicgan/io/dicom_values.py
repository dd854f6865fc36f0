"""Numbers from DICOM attributes, checked: a damaged value is an InvalidSeriesError naming its file.

pydicom reads leniently: a decimal string it cannot parse stays text, a value with the wrong VR stays
bytes, and "NaN" or "inf" parse as floats. Used as they come, these surface as a ValueError far from
the file, or as NaN HU and geometry that nothing downstream notices.
"""

from __future__ import annotations

import math
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from radiomicgan.errors import InvalidSeriesError

_SHOWN_CHARACTERS = 40  # enough to recognize a value in a message, short enough for one line


def numbers(ds: Dataset, keyword: str, path: Path, count: int) -> list[float]:
    """The `count` values of a numeric attribute (DS, IS, US, ...) as finite floats.

    Args:
        ds: the dataset.
        keyword: the attribute, e.g. "ImagePositionPatient".
        path: the file, for messages.
        count: how many values the attribute must hold.

    Raises:
        InvalidSeriesError: the attribute is missing or empty, holds another number of values, or a
            value that is not a finite number.
    """
    value = ds.get(keyword)
    if value is None or value == "":
        raise InvalidSeriesError(path, f"missing {keyword}")
    values = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    if len(values) != count:
        raise InvalidSeriesError(path, f"{keyword} has {len(values)} values, expected {count}")
    try:
        parsed = [float(v) if isinstance(v, int | float) else float(str(v)) for v in values]
    except ValueError:
        raise InvalidSeriesError(path, f"{keyword} is not numeric ({_shown(value)})") from None
    if not all(math.isfinite(v) for v in parsed):
        raise InvalidSeriesError(path, f"{keyword} is not finite ({_shown(value)})")
    return parsed


def number(ds: Dataset, keyword: str, path: Path) -> float:
    """A single-valued numeric attribute as a finite float (see `numbers`)."""
    return numbers(ds, keyword, path, 1)[0]


def integer(ds: Dataset, keyword: str, path: Path) -> int:
    """A single-valued integer attribute (US, IS).

    Raises:
        InvalidSeriesError: as `numbers`, or the value is not a whole number.
    """
    value = number(ds, keyword, path)
    if not value.is_integer():
        raise InvalidSeriesError(path, f"{keyword} is not an integer ({value:g})")
    return int(value)


def _shown(value: object) -> str:
    text = repr(str(value) if not isinstance(value, bytes) else value)
    return text if len(text) <= _SHOWN_CHARACTERS else text[: _SHOWN_CHARACTERS - 3] + "..."

"""Library errors keep their type, path and reason through pickling (a cluster worker's error reaches
the caller pickled)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from radiomicgan.errors import ConfigError, InputError, InvalidSeriesError, OutputError, RadiomicGANError


@pytest.mark.parametrize(
    "error",
    [
        InputError("scans/a", "does not exist"),
        InvalidSeriesError("scans/b", "slices are not evenly spaced"),
        OutputError("out/a", "already exists"),
        ConfigError("backend: workers must be >= 0"),
    ],
)
def test_errors_survive_pickling(error: RadiomicGANError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error)
    if isinstance(error, InputError | OutputError):
        assert (copy.path, copy.reason) == (error.path, error.reason)
        assert isinstance(copy.path, Path)

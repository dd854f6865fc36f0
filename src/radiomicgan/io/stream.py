"""Read a DICOM CT series in slice batches, so that memory holds one batch, not the series.

`plan_series` sorts and checks the slices from their headers; the functions here then read the
pixels batch by batch. Pair them with `dicom_series_writer` to write each batch as it comes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from radiomicgan.io.dicom_reader import SeriesPlan, read_slice


@dataclass(frozen=True)
class SliceBatch:
    """Consecutive slices of a series.

    Attributes:
        start: index of the first slice in slice order.
        datasets: each slice's dataset without pixel data.
        hu: float32 HU [b, y, x].
    """

    start: int
    datasets: list[Dataset]
    hu: NDArray[np.float32]

    @property
    def stop(self) -> int:
        """Index one past the last slice."""
        return self.start + len(self.datasets)


def iter_slice_batches(plan: SeriesPlan, batch_size: int) -> Iterator[SliceBatch]:
    """The series' slices in order, `batch_size` at a time (the last batch may be smaller).

    Each batch is read when asked for; nothing of earlier batches is kept here.

    Args:
        plan: the series, from `plan_series`.
        batch_size: slices per batch, >= 1.

    Raises:
        ValueError: `batch_size` < 1.
        InvalidSeriesError: a slice cannot be read or decoded.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    _, rows, columns = plan.geometry.shape
    for start in range(0, len(plan.files), batch_size):
        paths = plan.files[start : start + batch_size]
        hu = np.empty((len(paths), rows, columns), dtype=np.float32)
        datasets = []
        for k, path in enumerate(paths):
            ds, hu[k] = read_slice(path)
            datasets.append(ds)
        yield SliceBatch(start, datasets, hu)

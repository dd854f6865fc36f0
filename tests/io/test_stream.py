"""Streaming a DICOM series: planning from headers, batches in slice order, no earlier batch kept."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from radiomicgan.errors import InvalidSeriesError
from radiomicgan.io import (
    dicom_reader,
    find_series,
    iter_slice_batches,
    plan_series,
    read_volume,
)


def _plan(folder):
    (ref,) = find_series(folder)
    return plan_series(ref)


@pytest.mark.parametrize("batch_size", [1, 4, 6, 7])
def test_batches_cover_the_series_in_slice_order(ct_series, batch_size):
    plan = _plan(ct_series.folder)
    batches = list(iter_slice_batches(plan, batch_size))
    assert [b.start for b in batches] == list(range(0, 6, batch_size))
    assert [len(b.datasets) for b in batches] == [min(batch_size, 6 - s) for s in range(0, 6, batch_size)]
    assert batches[-1].stop == 6
    np.testing.assert_array_equal(np.concatenate([b.hu for b in batches]), ct_series.hu)
    whole = read_volume(ct_series.folder)
    assert whole.datasets is not None
    streamed = [ds for b in batches for ds in b.datasets]
    assert [ds.SOPInstanceUID for ds in streamed] == [ds.SOPInstanceUID for ds in whole.datasets]
    assert not any("PixelData" in ds for ds in streamed)


def test_plan_has_the_volume_geometry_and_reads_no_pixels(ct_series, monkeypatch):
    def no_decoding(*args: object) -> None:
        raise AssertionError("plan_series decoded pixels")

    monkeypatch.setattr(dicom_reader, "_decode_hu", no_decoding)
    plan = _plan(ct_series.folder)
    monkeypatch.undo()
    whole = read_volume(ct_series.folder)
    assert plan.geometry.shape == whole.shape
    assert plan.meta == whole.meta
    np.testing.assert_array_equal(plan.positions_xyz_mm(), whole.slice_positions_xyz_mm())
    assert plan.folders == [ct_series.folder]


def test_geometry_errors_come_before_any_pixel(ct_series, monkeypatch):
    ct_series.files[2].write_bytes(ct_series.files[0].read_bytes())  # two slices at one position
    monkeypatch.setattr(dicom_reader, "_decode_hu", lambda *a: pytest.fail("decoded"))
    with pytest.raises(InvalidSeriesError, match="duplicate slice position"):
        _plan(ct_series.folder)


def test_earlier_batches_are_not_kept(ct_series):
    """Memory is bounded by the batch: once the next batch is read, nothing refers to the last one."""
    batches = iter_slice_batches(_plan(ct_series.folder), 2)
    seen: list[weakref.ref[object]] = []
    for batch in batches:
        gc.collect()
        assert all(ref() is None for ref in seen), "an earlier batch's pixels or datasets are still alive"
        seen += [weakref.ref(batch.hu), *(weakref.ref(ds) for ds in batch.datasets)]
        del batch
    assert len(seen) == 9


def test_batch_size_must_be_positive(ct_series):
    with pytest.raises(ValueError, match="batch_size"):
        next(iter_slice_batches(_plan(ct_series.folder), 0))

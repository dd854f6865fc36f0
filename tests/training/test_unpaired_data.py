"""Unpaired training slices: one grid for every series, one kernel for the targets, independent crops."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import SyntheticSeries

from radiomicgan.errors import InputError
from radiomicgan.spacing import resample_slices
from radiomicgan.training.unpaired_data import (
    UnpairedSlices,
    load_unpaired_slices,
    sample_unpaired_crops,
    split_unpaired,
    unpaired_validation_subset,
)
from registry.scans import write_pair

MakeSeries = Callable[..., SyntheticSeries]


def test_every_series_is_brought_to_the_first_target_series_grid(
    make_ct_series: MakeSeries, tmp_path: Path
) -> None:
    target = make_ct_series(
        tmp_path / "t", slices=3, rows=32, columns=32, spacing_zyx_mm=(2.5, 0.5, 0.5), kernel="B60f"
    )
    other = make_ct_series(
        tmp_path / "t2", slices=2, rows=32, columns=40, seed=1, spacing_zyx_mm=(3.0, 0.5, 0.5), kernel="b60F"
    )
    source = make_ct_series(
        tmp_path / "s", slices=4, rows=32, columns=32, seed=2, spacing_zyx_mm=(2.5, 0.7, 0.7), kernel="B30f"
    )

    data = load_unpaired_slices([source.folder], [target.folder, other.folder])

    assert data.source_hu.shape == (4, 32, 32) and data.target_hu.shape == (5, 32, 32)
    np.testing.assert_array_equal(data.target_scan, [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(data.target_hu[:3], target.hu)
    np.testing.assert_array_equal(data.target_hu[3:], other.hu[:, :, 4:36])  # same spacing: centred, cut
    resampled = resample_slices(source.hu, (0.7, 0.7), (0.5, 0.5), (32, 32))
    np.testing.assert_array_equal(data.source_hu, np.round(resampled))  # integer HU, as DICOM stores them
    assert data.geometry is not None and data.geometry.pixel_spacing_mm == (0.5, 0.5)
    assert data.geometry.slice_spacing_mm == pytest.approx(2.75)
    assert data.source_kernel == "B30f" and data.target_kernel == "B60f"  # case differs: one kernel


def test_target_series_of_two_kernels_are_refused_naming_the_second(
    make_ct_series: MakeSeries, tmp_path: Path
) -> None:
    first = make_ct_series(tmp_path / "t1", slices=2, kernel="B60f")
    second = make_ct_series(tmp_path / "t2", slices=2, seed=1, kernel="B70f")
    source = make_ct_series(tmp_path / "s", slices=2, seed=2, kernel="B30f")
    with pytest.raises(
        InputError, match=r"t2: kernel B70f differs from B60f of target series .*t1"
    ) as caught:
        load_unpaired_slices([source.folder], [first.folder, second.folder])
    assert caught.value.path == second.folder


def test_no_target_is_refused() -> None:
    with pytest.raises(InputError, match="at least one --target"):
        load_unpaired_slices([Path("a")], [])


def _slices(n_source: int, n_target: int) -> UnpairedSlices:
    source = np.stack([np.full((16, 16), 10.0 * i, np.float32) for i in range(n_source)])
    target = np.stack([np.full((16, 16), -10.0 * (i + 1), np.float32) for i in range(n_target)])
    return UnpairedSlices(
        source, target, np.repeat([0, 1], n_source // 2).astype(np.int64), np.zeros(n_target, np.int64)
    )


def test_each_series_holds_out_its_last_slices() -> None:
    train, held_out = split_unpaired(_slices(8, 5), 0.25)
    np.testing.assert_array_equal(held_out.source_hu[:, 0, 0], [30.0, 70.0])  # the last of each source series
    np.testing.assert_array_equal(held_out.target_hu[:, 0, 0], [-50.0])
    assert len(train) == 6 and len(train.target_hu) == 4
    val = unpaired_validation_subset(train, 2)
    np.testing.assert_array_equal(val.source_hu[:, 0, 0], [0.0, 60.0])  # spread over the block


def test_crops_of_each_kernel_are_drawn_from_its_own_slices() -> None:
    data = _slices(4, 3)
    rng = np.random.default_rng(0)
    source, target = sample_unpaired_crops(data, 6, 8, rng, multiple=4)
    assert source.shape == target.shape == (6, 8, 8)
    assert set(source[:, 0, 0]) <= {0.0, 10.0, 20.0, 30.0} and set(target[:, 0, 0]) <= {-10.0, -20.0, -30.0}
    whole, _ = sample_unpaired_crops(data, 1, 64, rng, multiple=12)  # larger than the slices: cut to 12
    assert whole.shape == (1, 12, 12)


def test_the_source_series_manufacturer_is_recorded_for_the_registry(tmp_path: Path) -> None:
    siemens = write_pair(tmp_path, "siemens", "Br40d\\3", "SIEMENS ")
    other = write_pair(tmp_path, "other", "Br40d\\3", "Siemens", seed=3)
    unknown = write_pair(tmp_path, "unknown", "Br40d\\3", "", seed=4)
    data = load_unpaired_slices([siemens.source, other.source], [unknown.target])
    assert data.manufacturer == "SIEMENS"  # the targets' scanners do not say what the model converts
    assert data.take(np.array([0]), np.array([1])).manufacturer == "SIEMENS"
    assert load_unpaired_slices([siemens.source, unknown.source], [other.target]).manufacturer == ""

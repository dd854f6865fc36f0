"""Paired training slices: loading and stacking scans, the validation split, co-located crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radiomicgan.errors import InputError, PairingError
from radiomicgan.training.data import PairedSlices, load_paired_slices, sample_crops, split_validation
from registry.scans import write_pair
from training.pairs import SOURCE_KERNEL, TARGET_KERNEL, Scan, write_scan


def test_load_pairs_and_stacks_two_scans(scan: Scan, tmp_path: Path) -> None:
    other = write_scan(tmp_path, slices=4, seed=7, name="other")
    data = load_paired_slices([(scan.source, scan.target), (other.source, other.target)])
    assert len(data) == 10
    assert data.source_hu.dtype == np.float32 and data.source_hu.shape == (10, 48, 48)
    np.testing.assert_array_equal(data.source_hu[:6], scan.source_hu)
    np.testing.assert_array_equal(data.target_hu[:6], scan.target_hu)
    np.testing.assert_array_equal(data.source_hu[6:], other.source_hu)
    np.testing.assert_array_equal(data.target_hu[6:], other.target_hu)
    np.testing.assert_array_equal(data.scan_index, [0] * 6 + [1] * 4)
    assert (data.source_kernel, data.target_kernel) == (SOURCE_KERNEL, TARGET_KERNEL)


def test_the_source_series_manufacturer_is_recorded_when_every_scan_shares_it(tmp_path: Path) -> None:
    # write_scan's series say "radiomicgan simulator"; the registry tests write "SIEMENS " and none
    siemens = write_pair(tmp_path, "siemens", "Br40d\\3", "SIEMENS ")
    also = write_pair(tmp_path, "also", "Br40d\\3", "Siemens", seed=3)
    unknown = write_pair(tmp_path, "unknown", "Br40d\\3", "", seed=4)
    assert load_paired_slices([(siemens.source, siemens.target)]).manufacturer == "SIEMENS"  # stripped
    both = load_paired_slices([(siemens.source, siemens.target), (also.source, also.target)])
    assert both.manufacturer == "SIEMENS"  # the same vendor, spelt in two cases: the first spelling
    assert both.take(np.array([0, 7])).manufacturer == "SIEMENS"
    mixed = load_paired_slices([(siemens.source, siemens.target), (unknown.source, unknown.target)])
    assert mixed.manufacturer == ""  # one scan without: the model is not tied to a vendor


def test_series_of_two_scans_are_not_a_pair(scan: Scan, tmp_path: Path) -> None:
    other = write_scan(tmp_path, seed=7, name="other")  # another study and frame of reference
    with pytest.raises(PairingError):
        load_paired_slices([(scan.source, other.target)])


def test_missing_series_is_an_input_error(scan: Scan, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_paired_slices([(tmp_path / "nowhere", scan.target)])


def _synthetic(scan_sizes: list[int], size: int = 8) -> PairedSlices:
    n = sum(scan_sizes)
    source = np.arange(n * size * size, dtype=np.float32).reshape(n, size, size)
    scans = np.concatenate([np.full(k, i, dtype=np.int64) for i, k in enumerate(scan_sizes)])
    return PairedSlices(source, source + 0.5, scans, "A", "B")


def test_split_holds_out_the_last_block_of_each_scan() -> None:
    data = _synthetic([10, 5])
    train, val = split_validation(data, 0.2)
    # 20 % of 10 slices is 2, of 5 slices 1: the last ones of each scan
    np.testing.assert_array_equal(val.source_hu[:, 0, 0], data.source_hu[[8, 9, 14], 0, 0])
    np.testing.assert_array_equal(train.source_hu[:, 0, 0], data.source_hu[[*range(8), *range(10, 14)], 0, 0])
    np.testing.assert_array_equal(val.scan_index, [0, 0, 1])
    np.testing.assert_array_equal(val.target_hu, val.source_hu + 0.5)  # pairs stay pairs
    assert (val.source_kernel, val.target_kernel) == ("A", "B")


def test_split_keeps_a_training_slice_and_fraction_zero_holds_out_nothing() -> None:
    data = _synthetic([1, 3])
    train, val = split_validation(data, 0.9)
    np.testing.assert_array_equal(train.scan_index, [0, 1])  # each scan keeps one slice
    np.testing.assert_array_equal(val.scan_index, [1, 1])
    train, val = split_validation(data, 0.0)
    assert len(train) == 4 and len(val) == 0


def test_crops_are_co_located_and_deterministic(scan: Scan) -> None:
    data = load_paired_slices([(scan.source, scan.target)])
    a_src, a_tgt = sample_crops(data, 5, 32, np.random.default_rng(3))
    b_src, b_tgt = sample_crops(data, 5, 32, np.random.default_rng(3))
    c_src, _ = sample_crops(data, 5, 32, np.random.default_rng(4))
    assert a_src.shape == a_tgt.shape == (5, 32, 32) and a_src.dtype == np.float32
    np.testing.assert_array_equal(a_src, b_src)
    np.testing.assert_array_equal(a_tgt, b_tgt)
    assert not np.array_equal(a_src, c_src)
    for src, tgt in zip(a_src, a_tgt, strict=True):
        hits = _locate(data.source_hu, src)
        assert hits, "a crop that is no window of any slice"
        assert any(np.array_equal(data.target_hu[i, y : y + 32, x : x + 32], tgt) for i, y, x in hits)
        assert np.mean(src > -900) >= 0.5  # mostly body, not air


def test_crop_at_least_the_slice_gives_whole_slices() -> None:
    data = _synthetic([3])
    src, tgt = sample_crops(data, 2, 32, np.random.default_rng(0))
    assert src.shape == (2, 8, 8)
    assert all(any(np.array_equal(s, d) for d in data.source_hu) for s in src)
    np.testing.assert_array_equal(tgt, src + 0.5)


def _locate(slices: np.ndarray, crop: np.ndarray) -> list[tuple[int, int, int]]:
    n, height, width = slices.shape
    size = crop.shape[0]
    return [
        (i, y, x)
        for i in range(n)
        for y in range(height - size + 1)
        for x in range(width - size + 1)
        if np.array_equal(slices[i, y : y + size, x : x + size], crop)
    ]


def test_crops_are_cut_to_the_size_multiple() -> None:
    data = _synthetic([2], size=44)
    src, tgt = sample_crops(data, 2, 64, np.random.default_rng(0), multiple=8)
    assert src.shape == tgt.shape == (2, 40, 40)
    with pytest.raises(ValueError, match="smaller than the size multiple 64"):
        sample_crops(data, 1, 64, np.random.default_rng(0), multiple=64)

"""pair_volumes: matching two reconstructions of one scan slice by slice, and refusing non-pairs."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pytest

from radiomicgan.errors import PairingError
from radiomicgan.io import Derivation, SeriesMeta, Volume, pair_volumes, read_volume, write_volume


def _shifted(volume: Volume, offset_xyz_mm: tuple[float, float, float]) -> Volume:
    origin = np.add(volume.origin_xyz_mm, offset_xyz_mm)
    return replace(volume, origin_xyz_mm=(float(origin[0]), float(origin[1]), float(origin[2])))


def test_two_derived_series_of_one_source_pair(ct_series, tmp_path):
    source = read_volume(ct_series.folder)
    a = write_volume(source, tmp_path / "a", derivation=Derivation("A", "method A", "ma"))
    b = write_volume(
        source.with_hu(source.hu + 1), tmp_path / "b", derivation=Derivation("B", "method B", "mb")
    )
    pair = pair_volumes(read_volume(a), read_volume(b))
    assert pair.source_indices == pair.target_indices == (0, 1, 2, 3, 4, 5)
    assert pair.unmatched_source == pair.unmatched_target == ()
    hu_a, hu_b = pair.arrays()
    assert np.array_equal(hu_a, ct_series.hu) and np.array_equal(hu_b, ct_series.hu + 1)


def test_slices_missing_from_one_series_are_reported_and_left_out(ct_series, tmp_path, caplog):
    source = read_volume(ct_series.folder)
    partial = write_volume(
        source.subset([1, 2, 3, 4]), tmp_path / "partial", derivation=Derivation("A", "a", "m")
    )
    with caplog.at_level(logging.WARNING):
        pair = pair_volumes(source, read_volume(partial))
    assert (pair.source_indices, pair.target_indices) == ((1, 2, 3, 4), (0, 1, 2, 3))
    assert (pair.unmatched_source, pair.unmatched_target) == ((0, 5), ())
    assert len(pair) == 4
    assert "2 source and 0 target slices have no counterpart" in caplog.text
    assert "Synthetic" not in caplog.text and "SYN0001" not in caplog.text  # no patient identifiers
    source_hu, target_hu = pair.arrays()
    assert np.array_equal(source_hu, target_hu)


def test_a_series_at_double_spacing_matches_every_other_slice(ct_series):
    source = read_volume(ct_series.folder)
    coarse = source.subset([0, 2, 4])
    pair = pair_volumes(source, coarse)
    assert (pair.source_indices, pair.target_indices) == ((0, 2, 4), (0, 1, 2))
    assert pair.unmatched_source == (1, 3, 5)


def test_volume_without_uids_pairs_by_geometry(ct_series, tmp_path):
    source = read_volume(ct_series.folder)
    nrrd = read_volume(write_volume(source, tmp_path / "copy.nrrd"))
    assert nrrd.meta.study_uid == ""
    pair = pair_volumes(nrrd, source)
    assert pair.source_indices == (0, 1, 2, 3, 4, 5)


def _refusal(source: Volume, target: Volume) -> str:
    with pytest.raises(PairingError) as caught:
        pair_volumes(source, target)
    return str(caught.value)


def test_other_study_and_frame_of_reference_are_refused(ct_series, make_ct_series, tmp_path):
    source = read_volume(ct_series.folder)
    other = read_volume(make_ct_series(tmp_path / "other", seed=9).folder)
    assert "study differs; frame of reference differs" in _refusal(source, other)
    same_study = replace(source, meta=replace(source.meta, frame_of_reference_uid="1.2.3"))
    message = _refusal(source, same_study)
    assert message.endswith("frame of reference differs") and "study differs" not in message


def test_other_grid_is_refused_saying_what_differs(ct_series):
    source = read_volume(ct_series.folder)
    spacing = replace(source, spacing_zyx_mm=(2.5, 0.7, 0.66))
    assert "pixel spacing 0.7x0.68 vs 0.7x0.66 mm" in _refusal(source, spacing)
    smaller = replace(source, hu=source.hu[:, :30, :], datasets=None)
    assert "image size 32x40 vs 30x40 pixels" in _refusal(source, smaller)
    turned = replace(source, direction=np.eye(3))
    assert "image orientation differs" in _refusal(source, turned)


def test_no_common_position_and_in_plane_shift_are_refused(ct_series):
    source = read_volume(ct_series.folder)
    normal = source.direction[:, 2]
    far = _shifted(source, tuple(100.0 * normal))
    assert "no slice position in common" in _refusal(source, far)
    row_axis = source.direction[:, 0]
    beside = _shifted(source, tuple(1.0 * row_axis))
    assert "in-plane position differs by 1.000 mm" in _refusal(source, beside)


def test_memory_volumes_without_paths_get_readable_messages():
    meta = SeriesMeta(study_uid="1.2.3", frame_of_reference_uid="1.2.4", series_uid="1.2.5")
    a = Volume(hu=np.zeros((2, 4, 4), np.float32), spacing_zyx_mm=(1.0, 1.0, 1.0), meta=meta)
    b = replace(a, meta=replace(meta, study_uid="9.9", series_uid="1.2.6"))
    assert _refusal(a, b) == "source volume: not a pair with series 1.2.6: study differs"

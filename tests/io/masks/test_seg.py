"""DICOM SEG written by highdicom from the known mask, validated by dciodvfy and read back exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from scipy import ndimage

from masks.dicom_masks import SEGMENT_NAMES, write_seg
from masks.phantom import CUBE, SPHERE, MaskCase
from radiomicgan.errors import InputError
from radiomicgan.io import read_volume, write_volume
from radiomicgan.io.masks import read_regions


def test_binary_seg_reads_back_the_same_voxels(case: MaskCase, tmp_path: Path, run_dciodvfy, tree_digests):
    path = write_seg(case.ct_folder, case.labels, tmp_path / "seg.dcm")
    errors, output = run_dciodvfy(path)
    assert not errors, output
    before = tree_digests(path)
    regions = read_regions(path, case.ct)
    assert regions.source_format == "seg"
    assert [(r.number, r.name) for r in regions.regions] == list(SEGMENT_NAMES.items())
    for region in regions.regions:
        assert region.mask.shape == case.ct.hu.shape
        assert np.array_equal(region.mask, case.labels == region.number)
    assert tree_digests(path) == before


def test_fractional_seg_is_thresholded_at_one_half(case: MaskCase, tmp_path: Path, run_dciodvfy):
    # Each segment 0.8 inside, 0.3 on a one-voxel rim outside it: only the inside is >= 0.5.
    fractions = np.zeros((*case.labels.shape, 2), dtype=np.float32)
    for channel, number in enumerate((SPHERE, CUBE)):
        inside = case.labels == number
        fractions[..., channel][ndimage.binary_dilation(inside) & ~inside] = 0.3
        fractions[..., channel][inside] = 0.8
    path = write_seg(case.ct_folder, case.labels, tmp_path / "fractional.dcm", fractions=fractions)
    errors, output = run_dciodvfy(path)
    assert not errors, output
    regions = read_regions(path, case.ct)
    for region in regions.regions:
        assert np.array_equal(region.mask, case.labels == region.number)


def test_seg_without_source_instances_is_placed_by_plane_position(case: MaskCase, tmp_path: Path):
    path = write_seg(case.ct_folder, case.labels, tmp_path / "seg.dcm")
    ds = pydicom.dcmread(path)
    for frame in ds.PerFrameFunctionalGroupsSequence:
        del frame.DerivationImageSequence
    ds.save_as(tmp_path / "positions.dcm")
    regions = read_regions(tmp_path / "positions.dcm", case.ct)
    for region in regions.regions:
        assert np.array_equal(region.mask, case.labels == region.number)


def test_seg_of_another_series_is_refused(case: MaskCase, tmp_path: Path, make_ct_series):
    # Same frame of reference and geometry, another series: the voxels might even line up, but the
    # SEG was not drawn on this series.
    other = make_ct_series(
        tmp_path / "other",
        slices=12,
        rows=40,
        columns=40,
        seed=20,
        study_uid=case.ct.meta.study_uid,
        frame_of_reference_uid=case.ct.meta.frame_of_reference_uid,
    )
    path = write_seg(other.folder, case.labels, tmp_path / "other-seg.dcm")
    with pytest.raises(InputError) as caught:
        read_regions(path, case.ct)
    assert caught.value.path == path
    assert f"references another series ({other.volume.meta.series_uid}), not the CT's" in caught.value.reason
    assert "\n" not in str(caught.value)


def test_seg_of_another_frame_of_reference_is_refused(case: MaskCase, tmp_path: Path, make_ct_series):
    other = make_ct_series(tmp_path / "other", slices=12, rows=40, columns=40, seed=21)
    path = write_seg(other.folder, case.labels, tmp_path / "other-seg.dcm")
    with pytest.raises(InputError, match="references another series: frame of reference"):
        read_regions(path, case.ct)


def test_seg_needs_the_ct_as_dicom(case: MaskCase, tmp_path: Path):
    path = write_seg(case.ct_folder, case.labels, tmp_path / "seg.dcm")
    nrrd_ct = read_volume(write_volume(case.ct, tmp_path / "ct.nrrd"))
    with pytest.raises(InputError, match="without DICOM UIDs to check"):
        read_regions(path, nrrd_ct)


def test_seg_without_segments_is_refused(case: MaskCase, tmp_path: Path):
    ds = pydicom.dcmread(write_seg(case.ct_folder, case.labels, tmp_path / "seg.dcm"))
    ds.SegmentSequence = []
    ds.save_as(tmp_path / "no-segments.dcm")
    with pytest.raises(InputError, match="no region: the SEG describes no segment"):
        read_regions(tmp_path / "no-segments.dcm", case.ct)

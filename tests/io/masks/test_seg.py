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


def test_seg_of_another_series_is_refused(case: MaskCase, tmp_path: Path, other_series):
    path = write_seg(other_series.folder, case.labels, tmp_path / "other-seg.dcm")
    with pytest.raises(InputError) as caught:
        read_regions(path, case.ct)
    assert caught.value.path == path
    series = other_series.volume.meta.series_uid
    assert f"references another series ({series}), not the CT's {case.ct.meta.series_uid}" in str(
        caught.value
    )
    assert "\n" not in str(caught.value)


def test_seg_of_another_frame_of_reference_is_refused(case: MaskCase, tmp_path: Path):
    ds = pydicom.dcmread(write_seg(case.ct_folder, case.labels, tmp_path / "seg.dcm"))
    ds.FrameOfReferenceUID = "1.2.3.4"
    ds.save_as(tmp_path / "elsewhere.dcm")
    with pytest.raises(InputError) as caught:
        read_regions(tmp_path / "elsewhere.dcm", case.ct)
    ct_for = case.ct.meta.frame_of_reference_uid
    reason = f"references another series: frame of reference 1.2.3.4, not the CT's {ct_for}"
    assert caught.value.reason == reason


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


def test_seg_frames_off_the_ct_grid_are_refused(case: MaskCase, tmp_path: Path):
    ds = pydicom.dcmread(write_seg(case.ct_folder, case.labels, tmp_path / "seg.dcm"))
    for frame in ds.PerFrameFunctionalGroupsSequence:
        del frame.DerivationImageSequence
        position = frame.PlanePositionSequence[0]
        position.ImagePositionPatient = [float(v) + 0.3 for v in position.ImagePositionPatient]  # 0.5 mm off
    ds.save_as(tmp_path / "shifted.dcm")
    with pytest.raises(InputError, match="its frames cannot be placed on the CT's grid"):
        read_regions(tmp_path / "shifted.dcm", case.ct)

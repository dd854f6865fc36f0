"""Label volumes (NRRD, NIfTI) read onto the CT's grid: same voxels, Slicer names, grid checks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from masks.phantom import CUBE, SPHERE, MaskCase
from radiomicgan.errors import InputError
from radiomicgan.io import write_volume
from radiomicgan.io.masks import read_regions


@pytest.mark.parametrize("name", ["labels.nrrd", "labels.nii.gz"])
def test_label_volume_reads_back_the_same_voxels(case: MaskCase, tmp_path: Path, name, tree_digests):
    path = write_volume(case.label_volume(), tmp_path / name)
    before = tree_digests(path)
    regions = read_regions(path, case.ct)
    assert [(r.number, r.name) for r in regions.regions] == [(SPHERE, "label 1"), (CUBE, "label 2")]
    for region in regions.regions:
        assert region.mask.dtype == np.bool_ and region.mask.shape == case.ct.hu.shape
        assert np.array_equal(region.mask, case.labels == region.number)
    assert regions.source_format == ("nrrd" if name.endswith(".nrrd") else "nifti")
    assert regions.source_path == path
    assert tree_digests(path) == before


def _itk_image(labels: np.ndarray, case: MaskCase) -> sitk.Image:
    image = sitk.GetImageFromArray(labels)
    image.SetSpacing(tuple(reversed(case.ct.spacing_zyx_mm)))
    image.SetOrigin(case.ct.origin_xyz_mm)
    image.SetDirection(tuple(case.ct.direction.ravel()))
    return image


def test_slicer_segment_names_name_the_regions(case: MaskCase, tmp_path: Path):
    image = _itk_image(case.labels.astype(np.uint8), case)
    for index, (name, value) in enumerate([("tumour cube", CUBE), ("sphere", SPHERE), ("empty", 7)]):
        image.SetMetaData(f"Segment{index}_Name", name)
        image.SetMetaData(f"Segment{index}_LabelValue", str(value))
        image.SetMetaData(f"Segment{index}_Layer", "0")
    sitk.WriteImage(image, str(tmp_path / "lesions.seg.nrrd"))
    regions = read_regions(tmp_path / "lesions.seg.nrrd", case.ct)
    assert [(r.number, r.name, r.voxels) for r in regions.regions] == [
        (SPHERE, "sphere", int((case.labels == SPHERE).sum())),
        (CUBE, "tumour cube", int((case.labels == CUBE).sum())),
        (7, "empty", 0),  # described but empty: kept, for the caller to report
    ]


def test_slicer_layers_hold_overlapping_segments(case: MaskCase, tmp_path: Path):
    overlap = np.zeros_like(case.labels, dtype=np.uint8)
    overlap[2:8, 5:30, 5:30] = 1  # overlaps both the sphere and the cube
    layers = [_itk_image(case.labels.astype(np.uint8), case), _itk_image(overlap, case)]
    image = sitk.Compose(layers)
    for index, (name, value, layer) in enumerate([("sphere", 1, 0), ("cube", 2, 0), ("box", 1, 1)]):
        image.SetMetaData(f"Segment{index}_Name", name)
        image.SetMetaData(f"Segment{index}_LabelValue", str(value))
        image.SetMetaData(f"Segment{index}_Layer", str(layer))
    sitk.WriteImage(image, str(tmp_path / "layers.seg.nrrd"))
    regions = {r.name: r for r in read_regions(tmp_path / "layers.seg.nrrd", case.ct).regions}
    assert np.array_equal(regions["sphere"].mask, case.labels == SPHERE)
    assert np.array_equal(regions["cube"].mask, case.labels == CUBE)
    assert np.array_equal(regions["box"].mask, overlap == 1)


def test_another_grid_is_refused_naming_both_grids(case: MaskCase, tmp_path: Path):
    shifted = replace(case.label_volume(), origin_xyz_mm=(0.0, 0.0, 0.0))
    path = write_volume(shifted, tmp_path / "shifted.nrrd")
    with pytest.raises(InputError) as caught:
        read_regions(path, case.ct)
    message = str(caught.value)
    assert caught.value.path == path and "\n" not in message
    assert "origin (0, 0, 0) mm" in message  # the label grid
    assert "origin (-100.25, 33.5, 512.125) mm" in message  # the CT's
    assert "--resample" in message


def test_resample_puts_a_finer_grid_onto_the_ct(case: MaskCase, tmp_path: Path):
    # 3x finer in-plane, shifted by one fine voxel: fine voxel 3i+1 sits exactly on CT voxel i,
    # so nearest-neighbour resampling must give the CT-grid labels back exactly.
    fine = np.repeat(np.repeat(case.labels, 3, axis=1), 3, axis=2)
    _, dy, dx = case.ct.spacing_zyx_mm
    step = case.ct.direction[:, 0] * dx / 3 + case.ct.direction[:, 1] * dy / 3
    volume = replace(
        case.label_volume(fine),
        spacing_zyx_mm=(case.ct.spacing_zyx_mm[0], dy / 3, dx / 3),
        origin_xyz_mm=tuple(np.asarray(case.ct.origin_xyz_mm) - step),
    )
    path = write_volume(volume, tmp_path / "fine.nii.gz")
    with pytest.raises(InputError, match="differs from the CT's"):
        read_regions(path, case.ct)
    regions = read_regions(path, case.ct, resample=True)
    for region in regions.regions:
        assert np.array_equal(region.mask, case.labels == region.number)


def test_resample_keeps_a_region_that_falls_outside(case: MaskCase, tmp_path: Path):
    # Only the first 4 slices: the cube (slices 3-9) is cut, the sphere kept; a label beyond the CT is empty.
    labels = case.labels[:4].copy()
    outside = np.zeros((2, *labels.shape[1:]), dtype=np.int16)
    outside[:, 1:3, 1:3] = 5
    stacked = np.concatenate([outside, labels])
    normal = case.ct.direction[:, 2] * case.ct.spacing_zyx_mm[0]
    origin = np.asarray(case.ct.origin_xyz_mm) - 2 * normal
    volume = replace(case.label_volume(stacked), origin_xyz_mm=tuple(origin))
    path = write_volume(volume, tmp_path / "part.nrrd")
    regions = {r.number: r for r in read_regions(path, case.ct, resample=True).regions}
    expected = np.zeros_like(case.labels)
    expected[:4] = labels
    assert np.array_equal(regions[SPHERE].mask, expected == SPHERE)
    assert np.array_equal(regions[CUBE].mask, expected == CUBE)
    assert regions[5].voxels == 0


def test_all_zero_and_non_integer_volumes_are_refused(case: MaskCase, tmp_path: Path):
    empty = write_volume(case.label_volume(np.zeros_like(case.labels)), tmp_path / "empty.nrrd")
    with pytest.raises(InputError, match="no region: every voxel is 0"):
        read_regions(empty, case.ct)
    fractional = replace(case.label_volume(), hu=case.labels.astype(np.float32) * 0.5)
    path = write_volume(fractional, tmp_path / "fraction.nii")
    with pytest.raises(InputError, match="not whole numbers"):
        read_regions(path, case.ct)

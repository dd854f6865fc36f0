"""RTSTRUCT written with pydicom from the known mask, validated by dciodvfy, rasterized back on the CT."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
import pytest
from tests.conftest import make_ct_series

from masks.dicom_masks import SEGMENT_NAMES, lps_points, mask_contours, write_rtstruct
from masks.phantom import CUBE, SPHERE, MaskCase
from radiomicgan.errors import InputError
from radiomicgan.io import read_volume
from radiomicgan.io.masks import read_regions

CIRCLE = 3


def _known_contours(case: MaskCase) -> dict[int, list[tuple[int, np.ndarray]]]:
    contours: dict[int, list[tuple[int, np.ndarray]]] = {}
    for number in (SPHERE, CUBE):
        for k in range(case.labels.shape[0]):
            for outline in mask_contours(case.labels[k] == number):
                contours.setdefault(number, []).append((k, lps_points(case.ct, k, outline)))
    return contours


def test_rtstruct_of_the_known_mask_reads_back_its_voxels(
    case: MaskCase, tmp_path: Path, run_dciodvfy, tree_digests
):
    path = write_rtstruct(case.ct_folder, _known_contours(case), tmp_path / "rtstruct.dcm")
    errors, output = run_dciodvfy(path)
    assert not errors, output
    before = tree_digests(path)
    regions = read_regions(path, case.ct)
    assert regions.source_format == "rtstruct"
    assert [(r.number, r.name) for r in regions.regions] == list(SEGMENT_NAMES.items())
    # Exact, not merely within a Dice tolerance: the contours run through the midpoints between
    # inside and outside pixel centres (mask_contours), so filling pixel centres recovers every
    # voxel; the cube's tunnel is an inner contour that the even-odd rule turns into a hole.
    for region in regions.regions:
        assert np.array_equal(region.mask, case.labels == region.number)
    assert tree_digests(path) == before


def test_a_drawn_circle_is_rasterized_within_its_outline(case: MaskCase, tmp_path: Path):
    # A 6 mm circle as a 64-gon on slices 4-6 of the oblique CT. A pixel is in when its centre is
    # inside the polygon; the 64-gon lies within 0.01 mm of its circle, so only a pixel centre in
    # that sliver could differ from the disc: Dice > 0.98 allows one or two such pixels per slice.
    _, sy, sx = case.ct.spacing_zyx_mm
    angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    outline = np.stack([20 + 6.0 * np.sin(angles) / sy, 19 + 6.0 * np.cos(angles) / sx], axis=1)
    contours = {CIRCLE: [(k, lps_points(case.ct, k, outline)) for k in (4, 5, 6)]}
    path = write_rtstruct(case.ct_folder, contours, tmp_path / "circle.dcm")
    mask = read_regions(path, case.ct).regions[0].mask
    rows, columns = np.indices(case.ct.shape[1:])
    disc = ((rows - 20) * sy) ** 2 + ((columns - 19) * sx) ** 2 <= 6.0**2
    expected = np.zeros_like(mask)
    expected[4:7] = disc
    dice = 2 * np.count_nonzero(mask & expected) / (np.count_nonzero(mask) + np.count_nonzero(expected))
    assert dice > 0.98
    assert not mask[:4].any() and not mask[7:].any()


def test_point_and_open_contours_are_skipped(case: MaskCase, tmp_path: Path, caplog):
    path = write_rtstruct(case.ct_folder, _known_contours(case), tmp_path / "rtstruct.dcm")
    ds = pydicom.dcmread(path)
    for contour in ds.ROIContourSequence[0].ContourSequence[:2]:
        contour.ContourGeometricType = "OPEN_PLANAR"
    ds.save_as(tmp_path / "open.dcm")
    with caplog.at_level(logging.DEBUG, logger="radiomicgan.io.masks.rtstruct"):
        regions = read_regions(tmp_path / "open.dcm", case.ct)
    assert "OPEN_PLANAR contour skipped" in caplog.text
    sphere_slices = [k for k in range(case.labels.shape[0]) if (case.labels[k] == SPHERE).any()]
    expected = case.labels == SPHERE
    expected[sphere_slices[:2]] = False  # the first two contours were each one slice's outline
    assert np.array_equal(regions.regions[0].mask, expected)


def test_a_contour_between_slices_is_refused(case: MaskCase, tmp_path: Path):
    contours = _known_contours(case)
    k, points = contours[SPHERE][0]
    normal = case.ct.direction[:, 2] * case.ct.spacing_zyx_mm[0]
    contours[SPHERE][0] = (k, points + 0.5 * normal)  # half-way to the next slice
    path = write_rtstruct(case.ct_folder, contours, tmp_path / "between.dcm")
    with pytest.raises(InputError) as caught:
        read_regions(path, case.ct)
    assert (
        caught.value.reason == f"ROI {SPHERE}: a contour between the CT's slices (slice index {k + 0.5:.2f})"
    )


def test_rtstruct_of_another_series_is_refused(case: MaskCase, tmp_path: Path, other_series):
    path = write_rtstruct(other_series.folder, _known_contours(case), tmp_path / "other.dcm")
    with pytest.raises(InputError) as caught:
        read_regions(path, case.ct)
    assert caught.value.path == path
    series = other_series.volume.meta.series_uid
    assert (
        caught.value.reason == f"references another series ({series}), not the CT's {case.ct.meta.series_uid}"
    )


def test_an_roi_in_another_frame_of_reference_is_refused(case: MaskCase, tmp_path: Path):
    ds = pydicom.dcmread(write_rtstruct(case.ct_folder, _known_contours(case), tmp_path / "rt.dcm"))
    ds.StructureSetROISequence[1].ReferencedFrameOfReferenceUID = "1.2.3.4"
    ds.save_as(tmp_path / "elsewhere.dcm")
    with pytest.raises(InputError, match=f"ROI {CUBE} lies in frame of reference 1.2.3.4, not the CT's"):
        read_regions(tmp_path / "elsewhere.dcm", case.ct)


def test_rtstruct_without_roi_is_refused_and_an_roi_without_contours_kept(case: MaskCase, tmp_path: Path):
    path = write_rtstruct(case.ct_folder, {SPHERE: [], CUBE: []}, tmp_path / "empty-rois.dcm")
    regions = read_regions(path, case.ct)
    assert [(r.number, r.voxels) for r in regions.regions] == [(SPHERE, 0), (CUBE, 0)]
    ds = pydicom.dcmread(path)
    ds.StructureSetROISequence = []
    ds.ROIContourSequence = []
    ds.RTROIObservationsSequence = []
    ds.save_as(tmp_path / "no-roi.dcm")
    with pytest.raises(InputError, match="no region: the RTSTRUCT lists no ROI"):
        read_regions(tmp_path / "no-roi.dcm", case.ct)


def test_pydicoms_real_rtstruct_is_read_onto_a_ct_of_its_series(
    case: MaskCase, tmp_path: Path, pydicom_test_file
):
    # pydicom's rtstruct.dcm (no preamble, as older RT exports): ROI 1 "patient" is a 400 x 300 mm
    # rectangle on z = -200, -190, -180 mm; ROIs 2 and 3 are POINT isocentres. A CT of the series it
    # references, with 10 mm pixels whose centres avoid the rectangle's edges, gets 40 x 30 pixels
    # per slice; the isocentres stay as empty regions.
    path = pydicom_test_file("rtstruct.dcm")
    with pytest.raises(InputError, match="references another series"):
        read_regions(path, case.ct)
    uid = "1.2.826.0.1.3680043.8.498.2010020400001"
    make_ct_series(
        tmp_path / "ct",
        slices=3,
        rows=40,
        columns=50,
        study_uid=f"{uid}.1",
        frame_of_reference_uid=f"{uid}.2",
        series_uid=f"{uid}.2.1.1",
        spacing_zyx_mm=(10.0, 10.0, 10.0),
        origin_xyz_mm=(-245.0, -195.0, -200.0),
        direction=np.eye(3),
    )
    regions = read_regions(path, read_volume(tmp_path / "ct"))
    assert [(r.number, r.name, r.voxels) for r in regions.regions] == [
        (1, "patient", 3 * 40 * 30),
        (2, "Isocenter 1", 0),
        (3, "Isocenter 2", 0),
    ]
    expected = np.zeros((3, 40, 50), dtype=bool)
    expected[:, 5:35, 5:45] = True  # row centres -145..145 mm, column centres -195..195 mm
    assert np.array_equal(regions.regions[0].mask, expected)

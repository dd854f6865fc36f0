"""read_regions chooses the reader by what the file is, and says in one line when it is no mask."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from masks.dicom_masks import lps_points, mask_contours, write_rtstruct, write_seg
from masks.phantom import SPHERE, MaskCase
from radiomicgan.errors import InputError
from radiomicgan.io.masks import read_regions


def test_a_folder_with_one_dicom_mask_is_read(case: MaskCase, tmp_path: Path):
    # The SEG beside the CT's slices, as a PACS export puts it: the slices are not masks.
    folder = shutil.copytree(case.ct_folder, tmp_path / "export")
    write_seg(case.ct_folder, case.labels, folder / "seg.dcm")
    regions = read_regions(folder, case.ct)
    assert regions.source_format == "seg" and regions.source_path == folder / "seg.dcm"
    assert np.array_equal(regions.regions[0].mask, case.labels == SPHERE)


def test_a_folder_with_two_masks_or_none_is_refused(case: MaskCase, tmp_path: Path):
    masks = tmp_path / "masks"
    masks.mkdir()
    (masks / "notes.txt").write_text("segmented by reader 2\n")
    with pytest.raises(InputError, match="no DICOM SEG or RTSTRUCT file in this folder"):
        read_regions(masks, case.ct)
    write_seg(case.ct_folder, case.labels, masks / "a.dcm")
    contour = [(5, lps_points(case.ct, 5, mask_contours(case.labels[5] == SPHERE)[0]))]
    write_rtstruct(case.ct_folder, {SPHERE: contour}, masks / "b.dcm")
    with pytest.raises(InputError) as caught:
        read_regions(masks, case.ct)
    assert caught.value.reason == "2 mask files (a.dcm (SEG), b.dcm (RTSTRUCT)); name one"
    assert read_regions(masks / "b.dcm", case.ct).source_format == "rtstruct"


def test_what_is_no_mask_is_refused(case: MaskCase, tmp_path: Path):
    with pytest.raises(InputError, match="a DICOM CT file, not a mask"):
        read_regions(next(case.ct_folder.iterdir()), case.ct)
    (tmp_path / "labels.txt").write_text("1 2 3\n")
    with pytest.raises(InputError, match="not a mask file: neither a NRRD/NIfTI label volume nor DICOM"):
        read_regions(tmp_path / "labels.txt", case.ct)
    with pytest.raises(InputError, match="does not exist"):
        read_regions(tmp_path / "absent.nrrd", case.ct)

"""A DICOM mask must reference the CT it is read onto: frame of reference, series and images."""

from __future__ import annotations

from pathlib import Path

import pytest

from masks.dicom_masks import write_seg
from masks.phantom import MaskCase
from radiomicgan.errors import InputError
from radiomicgan.io.masks import read_regions
from radiomicgan.io.masks.references import CtIdentity, check_references

CT = CtIdentity("1.2.3", "1.2.3.4", {"1.2.3.4.1": 0, "1.2.3.4.2": 1})


def test_what_the_ct_is_passes_and_what_is_not_given_is_not_checked():
    check_references(
        Path("m.dcm"), CT, frames_of_reference=["1.2.3"], series_uids=["1.2.3.4"], instance_uids=["1.2.3.4.2"]
    )
    check_references(Path("m.dcm"), CT, frames_of_reference=[""], series_uids=[], instance_uids=[])


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        (
            {"frames_of_reference": ["9.9"]},
            "references another series: frame of reference 9.9, not the CT's 1.2.3",
        ),
        ({"series_uids": ["9.8", "9.7"]}, "references another series (9.7, 9.8), not the CT's 1.2.3.4"),
        (
            {"series_uids": ["1.2.3.4"], "instance_uids": ["1.2.3.4.1", "1.2.3.4.9"]},
            "references another series: images not in the CT series 1.2.3.4 (1, e.g. 1.2.3.4.9)",
        ),
    ],
)
def test_another_frame_series_or_image_is_refused(given, reason):
    arguments = {"frames_of_reference": [], "series_uids": [], "instance_uids": [], **given}
    with pytest.raises(InputError) as caught:
        check_references(Path("m.dcm"), CT, **arguments)
    assert caught.value.reason == reason


def test_a_seg_of_the_whole_series_onto_part_of_it_is_refused(case: MaskCase, tmp_path: Path):
    # The same series read without its last six slices: the SEG has frames on images it lacks
    # (highdicom writes no frame for an empty slice, so those are the slices 6-11 with a label).
    part = case.ct.subset(list(range(6)))
    path = write_seg(case.ct_folder, case.labels, tmp_path / "seg.dcm")
    lacking = sum(bool(case.labels[k].any()) for k in range(6, 12))
    with pytest.raises(
        InputError, match=rf"references another series: images not in the CT series .* \({lacking}, e.g. "
    ):
        read_regions(path, part)

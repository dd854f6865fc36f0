"""summarize / format_summary: what `radiomicgan info` shows for a folder tree."""

from __future__ import annotations

import shutil

import pydicom
import pytest

from radiomicgan.errors import InputError
from radiomicgan.io import format_summary, read_volume, summarize, write_volume


def test_summarizes_ct_other_modalities_and_volume_files(
    ct_series, pydicom_test_file, tmp_path, tree_digests
):
    shutil.copy(pydicom_test_file("MR_small_RLE.dcm"), tmp_path / "mr.dcm")
    write_volume(read_volume(ct_series.folder), tmp_path / "volume.nii.gz")
    before = tree_digests(tmp_path)
    summaries = summarize(tmp_path)
    assert tree_digests(tmp_path) == before
    ct, mr, nifti = sorted(summaries, key=lambda s: s.modality or "z")
    assert (ct.modality, ct.kernel, ct.slices, ct.rows, ct.columns) == ("CT", "B30f", 6, 32, 40)
    assert ct.spacing_zyx_mm == pytest.approx((2.5, 0.7, 0.68))
    assert (ct.hu_min, ct.hu_max) == (float(ct_series.hu.min()), float(ct_series.hu.max()))
    assert set(ct.transfer_syntaxes) == {"Explicit VR Little Endian", "Implicit VR Little Endian"}
    assert ct.series_uid == ct_series.volume.meta.series_uid and ct.description == "synthetic CT"
    assert (mr.modality, mr.rows, mr.hu_min, mr.transfer_syntaxes) == ("MR", 64, None, ("RLE Lossless",))
    assert mr.spacing_zyx_mm is not None and mr.problem == ""
    assert (nifti.source_format, nifti.slices, nifti.hu_min) == ("nifti", 6, float(ct_series.hu.min()))


def test_a_broken_series_is_listed_with_its_problem(ct_series):
    path = ct_series.files[0]
    ds = pydicom.dcmread(path)
    del ds.RescaleSlope
    ds.save_as(path)
    (summary,) = summarize(ct_series.folder)
    assert "missing RescaleSlope" in summary.problem
    assert (summary.rows, summary.columns, summary.hu_min) == (32, 40, None)
    assert "problem: " in format_summary([summary])


def test_format_summary_is_a_readable_table(ct_series, tmp_path):
    write_volume(read_volume(ct_series.folder), tmp_path / "v.nrrd")
    text = format_summary(summarize(ct_series.folder) + summarize(tmp_path / "v.nrrd"))
    lines = text.splitlines()
    header = "# modality kernel slices size spacing z/y/x mm HU range encoding description"
    assert lines[0].split() == header.split()
    assert lines[1].split()[:7] == ["1", "CT", "B30f", "6", "32x40", "2.5/0.7/0.68", "-1024..3071"]
    assert lines[2].split()[:5] == ["2", "-", "-", "6", "32x40"] and "NRRD" in lines[2]
    assert f"1: series {ct_series.volume.meta.series_uid} in {ct_series.folder}" in text
    assert f"2: {tmp_path / 'v.nrrd'}" in text
    assert format_summary([]) == "no image series found"


def test_missing_path_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        summarize(tmp_path / "missing")

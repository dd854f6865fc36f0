"""find_series: grouping image files by series, skipping what is not an image, refusing broken DICOM."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest

from radiomicgan.errors import InputError, InvalidSeriesError
from radiomicgan.io import find_series
from radiomicgan.io.discovery import survey

NON_IMAGE_FILES = ("rtstruct.dcm", "test-SR.dcm", "rtplan.dcm", "README.txt", "test1.json")


def test_groups_a_series_and_reads_its_identity(ct_series):
    refs = find_series(ct_series.folder)
    assert len(refs) == 1
    ref = refs[0]
    meta = ct_series.volume.meta
    assert ref.series_uid == meta.series_uid
    assert ref.study_uid == meta.study_uid
    assert ref.frame_of_reference_uid == meta.frame_of_reference_uid
    assert (ref.modality, ref.kernel, ref.description) == ("CT", "B30f", "synthetic CT")
    assert sorted(ref.files) == sorted(ct_series.files)
    assert ref.folder == ct_series.folder
    assert set(ref.transfer_syntaxes) == {"Explicit VR Little Endian", "Implicit VR Little Endian"}


def test_multi_valued_kernel_is_joined_with_backslash(ct_series):
    for path in ct_series.files:
        ds = pydicom.dcmread(path)
        ds.ConvolutionKernel = ["B30f", "3"]
        ds.save_as(path)
    assert find_series(ct_series.folder)[0].kernel == "B30f\\3"


def test_absent_kernel_and_description_are_empty(ct_series):
    for path in ct_series.files:
        ds = pydicom.dcmread(path)
        del ds.ConvolutionKernel, ds.SeriesDescription
        ds.save_as(path)
    ref = find_series(ct_series.folder)[0]
    assert (ref.kernel, ref.description) == ("", "")


def test_non_image_files_are_skipped(ct_series, pydicom_test_file: Callable[[str], Path]):
    folder = ct_series.folder
    for name in NON_IMAGE_FILES:
        shutil.copy(pydicom_test_file(name), folder / name)
    shutil.copy(pydicom_test_file("dicomdirtests/DICOMDIR"), folder / "DICOMDIR")
    (folder / "notes").write_bytes(b"\x00\x01 not dicom at all \xff" * 10)
    refs = find_series(folder)
    assert [r.series_uid for r in refs] == [ct_series.volume.meta.series_uid]
    assert len(refs[0].files) == 6


def test_other_modalities_are_returned_with_their_modality(ct_series, pydicom_test_file):
    shutil.copy(pydicom_test_file("MR_small.dcm"), ct_series.folder / "mr.dcm")
    modalities = sorted(r.modality for r in find_series(ct_series.folder))
    assert modalities == ["CT", "MR"]


def test_file_without_preamble_and_meta_is_recognized(ct_series, tmp_path):
    ds = pydicom.Dataset(pydicom.dcmread(ct_series.files[0]))  # a plain Dataset: no file meta
    bare = tmp_path / "bare" / "IMAGE1"
    bare.parent.mkdir()
    pydicom.dcmwrite(bare, ds, implicit_vr=True, little_endian=True, enforce_file_format=False)
    assert bare.read_bytes()[128:132] != b"DICM"
    refs = find_series(bare.parent)
    assert [r.files for r in refs] == [(bare,)]
    assert refs[0].transfer_syntaxes == ("Implicit VR Little Endian (no file meta)",)


@pytest.mark.parametrize("name", ["MR_truncated.dcm", "rtplan_truncated.dcm"])
def test_truncated_real_files_are_errors_naming_the_file(ct_series, pydicom_test_file, tree_digests, name):
    copy = ct_series.folder / name
    shutil.copy(pydicom_test_file(name), copy)
    before = tree_digests(ct_series.folder)
    with pytest.raises(InvalidSeriesError, match="truncated DICOM file") as caught:
        find_series(ct_series.folder)
    assert caught.value.path == copy
    assert tree_digests(ct_series.folder) == before


@pytest.mark.parametrize("cut", ["half", "header"])
def test_ct_file_cut_short_is_an_error(ct_series, cut):
    path = ct_series.files[2]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 if cut == "half" else 500])  # 500 bytes: past the meta
    with pytest.raises(InvalidSeriesError, match="truncated DICOM file") as caught:
        find_series(ct_series.folder)
    assert caught.value.path == path


def test_text_file_named_dcm_is_not_a_dicom_file(ct_series):
    fake = ct_series.folder / "x.dcm"
    fake.write_text("this is a note, not an image\n" * 20)
    with pytest.raises(InvalidSeriesError, match="not a DICOM file") as caught:
        find_series(ct_series.folder)
    assert caught.value.path == fake


def test_pydicom_no_meta_file_is_reported_as_not_dicom(tmp_path, pydicom_test_file):
    # pydicom's no_meta.dcm holds CT_small's dataset after one stray byte (0x20, the padding of the
    # meta it was cut from), so it does not parse even with force=True: a broken .dcm is an error.
    shutil.copy(pydicom_test_file("no_meta.dcm"), tmp_path / "no_meta.dcm")
    with pytest.raises(InvalidSeriesError, match="not a DICOM file"):
        find_series(tmp_path)


def test_hidden_files_and_folders_are_skipped(ct_series):
    shutil.copytree(ct_series.folder, ct_series.folder / ".ct.1234.partial")
    shutil.copy(ct_series.files[0], ct_series.folder / ".copy.dcm")
    assert len(find_series(ct_series.folder)[0].files) == 6


def test_a_single_file_is_a_series_of_one(ct_series):
    refs = find_series(ct_series.files[0])
    assert [r.files for r in refs] == [(ct_series.files[0],)]


def test_missing_root_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        find_series(tmp_path / "nowhere")


def test_series_in_subfolders_are_found_separately(make_ct_series, tmp_path):
    a = make_ct_series(tmp_path / "study" / "a", seed=1, kernel="B30f")
    b = make_ct_series(tmp_path / "study" / "b", seed=1, kernel="B60f")
    refs = find_series(tmp_path / "study")
    assert {r.folder for r in refs} == {a.folder, b.folder}
    assert {r.kernel for r in refs} == {"B30f", "B60f"}


def test_survey_notes_what_find_series_raises(ct_series, pydicom_test_file, tmp_path):
    shutil.copy(pydicom_test_file("rtstruct.dcm"), ct_series.folder)
    victim = ct_series.files[0]
    victim.write_bytes(victim.read_bytes()[:300])
    with pytest.raises(InvalidSeriesError, match="truncated"):
        find_series(ct_series.folder)
    found = survey(ct_series.folder)
    assert [len(s.files) for s in found.series] == [len(ct_series.files) - 1]
    assert [(e.path, e.reason.split(" (")[0]) for e in found.unreadable] == [(victim, "truncated DICOM file")]
    assert found.non_images == [(ct_series.folder / "rtstruct.dcm", "RTSTRUCT (RT Structure Set Storage)")]

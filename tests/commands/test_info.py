"""`radiomicgan info` as a survey: every readable series listed, every unreadable file one problem line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.conftest import PYDICOM_TEST_FILES, make_ct_series

from radiomicgan.cli import main


def test_pydicom_test_files_are_surveyed_not_stopped_at_the_first_bad_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["info", str(PYDICOM_TEST_FILES)]) == 0
    out = capsys.readouterr().out
    series_lines = [line for line in out.splitlines() if line.split(":")[0].isdigit()]
    assert len(series_lines) >= 20  # CT, MR, US, CR, ... series of the folder and its sub-folders
    assert "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322" in out  # CT_small.dcm's series
    assert "-896..1167" in out  # ... read whole: its HU range
    # Files the survey could not read come after, one line each, naming the file and the problem.
    assert f"{PYDICOM_TEST_FILES / 'JPEGLSNearLossless_08.dcm'}: problem: DICOM image without" in out
    assert f"{PYDICOM_TEST_FILES / 'MR_truncated.dcm'}: problem: truncated DICOM file" in out
    assert "files could not be read:" in out


def test_an_rt_structure_set_says_what_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    rtstruct = PYDICOM_TEST_FILES / "rtstruct.dcm"
    assert main(["info", str(rtstruct)]) == 2
    err = capsys.readouterr().err.strip()
    what = "RTSTRUCT (RT Structure Set Storage), not an image series"
    assert err == f"radiomicgan info: error: {rtstruct}: {what}"


def test_a_folder_of_non_images_says_what_it_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("rtstruct.dcm", "rtplan.dcm"):
        shutil.copy(PYDICOM_TEST_FILES / name, tmp_path)
    assert main(["info", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path}: no image series: 2 DICOM files that are not images (" in err
    assert "RTPLAN (RT Plan Storage)" in err and "RTSTRUCT (RT Structure Set Storage)" in err


def test_a_truncated_slice_is_a_problem_line_beside_its_series(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    series = make_ct_series(tmp_path / "ct", kernel="B45f")
    victim = series.files[2]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    assert main(["info", str(series.folder), "--json"]) == 0
    assert '"problem": "truncated DICOM file' in capsys.readouterr().out
    assert main(["info", str(series.folder)]) == 0
    out = capsys.readouterr().out
    assert "B45f" in out and f"{victim}: problem: truncated DICOM file" in out


def test_only_unreadable_files_is_exit_2_naming_the_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("a.dcm", "b.dcm"):
        (tmp_path / name).write_text("not DICOM\n")
    assert main(["info", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    expected = f"{tmp_path / 'a.dcm'}: not a DICOM file (and 1 more unreadable files)"
    assert err == f"radiomicgan info: error: {expected}"

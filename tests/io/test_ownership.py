"""What --overwrite may replace: folders and files radiomicgan wrote, recognized by marker or header."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from tests.conftest import make_ct_series

from radiomicgan.errors import OutputError
from radiomicgan.io import Volume, read_volume, write_volume
from radiomicgan.io.atomic import atomic_dir, check_output
from radiomicgan.io.ownership import MARKER, check_replaceable, foreign_entry, is_own_file, write_marker


def _report(out: Path) -> Path:
    """A folder as evaluate writes it: files and a subfolder, through atomic_dir (so marked)."""
    with atomic_dir(out) as temporary:
        (temporary / "report.html").write_text("<html>")
        (temporary / "figures").mkdir()
        (temporary / "figures" / "a.png").write_bytes(b"png")
    return out


def test_a_marked_folder_is_ours_and_its_marker_lists_what_was_written(tmp_path: Path) -> None:
    out = _report(tmp_path / "report")
    listed = (out / MARKER).read_text().splitlines()[1:]
    assert listed == ["figures", "figures/a.png", "report.html"]
    assert foreign_entry(out) is None


@pytest.mark.parametrize(
    ("add", "named"),
    [
        (lambda out: (out / "notes.txt").write_text("mine"), "notes.txt"),
        (lambda out: (out / "figures" / "b.png").write_bytes(b"mine"), "figures/b.png"),
        (lambda out: (out / "sub").mkdir(), "sub"),  # even an empty folder the user made
    ],
)
def test_anything_added_to_our_folder_is_foreign(tmp_path: Path, add, named: str) -> None:
    out = _report(tmp_path / "report")
    add(out)
    assert foreign_entry(out) == out / named
    with pytest.raises(OutputError, match=f"holds {named}, which is not radiomicgan's output"):
        check_replaceable(out)


def test_our_dicom_series_needs_no_marker_but_another_writers_dicom_is_foreign(
    tmp_path: Path, pydicom_test_file: Callable[[str], Path]
) -> None:
    ours = make_ct_series(tmp_path / "ours", slices=2).folder  # written by write_dicom_series
    assert not (ours / MARKER).exists()
    assert foreign_entry(ours) is None  # also how a series written before the marker is recognized
    shutil.copy(pydicom_test_file("CT_small.dcm"), ours / "scanner.dcm")
    assert foreign_entry(ours) == ours / "scanner.dcm"


def test_an_older_tree_of_our_series_without_markers_is_ours(tmp_path: Path) -> None:
    for name in ("a", "b"):
        make_ct_series(tmp_path / "old" / "patient" / name, slices=2)
    assert foreign_entry(tmp_path / "old") is None
    (tmp_path / "old" / "patient" / "empty").mkdir()
    assert foreign_entry(tmp_path / "old") == tmp_path / "old" / "patient" / "empty"


def test_volume_files_are_ours_by_their_header(tmp_path: Path) -> None:
    volume = Volume(hu=np.zeros((2, 4, 4), dtype=np.float32), spacing_zyx_mm=(1.0, 1.0, 1.0))
    for name in ("v.nrrd", "v.nii.gz", "v.nii"):
        assert is_own_file(write_volume(volume, tmp_path / "ours" / name)), name
        sitk.WriteImage(sitk.GetImageFromArray(np.zeros((2, 4, 4), np.int16)), str(tmp_path / name))
        assert not is_own_file(tmp_path / name), name
    (tmp_path / "short.nii.gz").write_bytes(b"")
    assert not is_own_file(tmp_path / "short.nii.gz")


def test_overwrite_never_replaces_a_volume_file_it_did_not_write(tmp_path: Path) -> None:
    theirs = tmp_path / "scan.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(np.ones((2, 4, 4), np.int16)), str(theirs))
    before = theirs.read_bytes()
    volume = Volume(hu=np.zeros((2, 4, 4), dtype=np.float32), spacing_zyx_mm=(1.0, 1.0, 1.0))
    with pytest.raises(OutputError, match=r"scan\.nrrd: is not radiomicgan's output"):
        write_volume(volume, theirs, overwrite=True)
    assert theirs.read_bytes() == before
    ours = write_volume(volume, tmp_path / "ours.nrrd")
    assert write_volume(volume.with_hu(volume.hu + 1), ours, overwrite=True) == ours
    assert read_volume(ours).hu.max() == 1


def test_a_folder_marked_as_a_whole_is_ours_whatever_it_holds(tmp_path: Path) -> None:
    for marker in (MARKER, ".radiomicgan-demo"):  # the second: the demo's marker of older versions
        run = tmp_path / marker / "run"
        (run / "figures").mkdir(parents=True)
        (run / "history.json").write_text("[]")
        if marker == MARKER:
            write_marker(run, everything=True)
        else:
            (run / marker).write_text("demo")
        assert foreign_entry(run) is None


def test_leftovers_of_a_killed_writer_count_as_ours_and_links_do_not(tmp_path: Path) -> None:
    out = _report(tmp_path / "report")
    (out / ".figures.0123456789ab.partial").mkdir()
    assert foreign_entry(out) is None
    (out / "link").symlink_to(tmp_path)
    assert foreign_entry(out) == out / "link"
    assert foreign_entry(tmp_path / "report" / "link") == out / "link"


def test_replacing_checks_again_when_the_new_output_is_ready(tmp_path: Path) -> None:
    out = _report(tmp_path / "report")
    check_output(out, overwrite=True, inputs=[], is_dir=True)
    with pytest.raises(OutputError, match=r"notes\.txt"), atomic_dir(out) as temporary:
        (temporary / "report.html").write_text("new")
        (out / "notes.txt").write_text("written meanwhile")
    assert (out / "report.html").read_text() == "<html>" and (out / "notes.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # the temporary is gone


def test_an_empty_folder_is_filled_without_overwrite(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    check_output(tmp_path / "out", overwrite=False, inputs=[], is_dir=True)
    (tmp_path / "out" / "x").write_text("")
    with pytest.raises(OutputError, match="already exists"):
        check_output(tmp_path / "out", overwrite=False, inputs=[], is_dir=True)

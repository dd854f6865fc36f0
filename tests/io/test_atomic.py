"""The one atomic file write and the one output-inside-input guard of `io/atomic.py`."""

from __future__ import annotations

from pathlib import Path

import pytest

from radiomicgan.errors import OutputError
from radiomicgan.io.atomic import atomic_file, check_outside_inputs, write_text_atomic


def test_an_atomic_file_replaces_the_old_one_whole(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    path.write_text("old", encoding="utf-8")
    write_text_atomic(path, "new")
    assert path.read_text(encoding="utf-8") == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["history.json"]  # no temporary left


def test_a_failed_atomic_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_file(path) as temporary:
        temporary.write_bytes(b"half")
        raise RuntimeError("disk full")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_the_temporary_is_hidden_beside_the_target(tmp_path: Path) -> None:
    with atomic_file(tmp_path / "sub" / "a.npy") as temporary:
        assert temporary.parent == tmp_path / "sub" and temporary.name.startswith(".a.npy.")
        temporary.write_bytes(b"x")
    assert (tmp_path / "sub" / "a.npy").read_bytes() == b"x"


@pytest.mark.parametrize(
    ("out", "message"),
    [("in", "inside the input folder"), ("in/run", "inside the input folder"), (".", "contains the input")],
)
def test_an_output_folder_in_or_around_an_input_is_refused(tmp_path: Path, out: str, message: str) -> None:
    (tmp_path / "in").mkdir()
    with pytest.raises(OutputError, match=message):
        check_outside_inputs(tmp_path / out, [tmp_path / "in"])


def test_an_output_beside_the_input_passes_and_a_file_output_only_clashes_with_itself(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    source = tmp_path / "in" / "ct.nrrd"
    source.write_bytes(b"")
    check_outside_inputs(tmp_path / "out", [tmp_path / "in"])
    check_outside_inputs(tmp_path / "in" / "ct_h.nrrd", [source], is_dir=False)
    with pytest.raises(OutputError, match="is the input file"):
        check_outside_inputs(source, [source], is_dir=False)


def test_an_output_folder_may_hold_an_input_where_the_caller_says_so(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    check_outside_inputs(tmp_path, [tmp_path / "in"], may_contain=True)  # a tree mirrors, a run folder adds
    with pytest.raises(OutputError, match="inside the input folder"):
        check_outside_inputs(tmp_path / "in" / "out", [tmp_path / "in"], may_contain=True)

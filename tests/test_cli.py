"""The command line: every bad input is one line on stderr, exit code 2, nothing written, input untouched."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import PYDICOM_TEST_FILES, make_ct_series

from radiomicgan.cli import build_parser, main


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _empty(tmp: Path) -> Path:
    (tmp / "empty").mkdir()
    return tmp / "empty"


def _mr_only(tmp: Path) -> Path:
    folder = tmp / "mr"
    folder.mkdir()
    shutil.copy(PYDICOM_TEST_FILES / "MR_small.dcm", folder)
    return folder


def _truncated(tmp: Path) -> Path:
    series = make_ct_series(tmp / "trunc")
    victim = series.files[0]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    return series.folder


def _two_series(tmp: Path) -> Path:
    make_ct_series(tmp / "two" / "a", seed=1, series_number=1)
    make_ct_series(tmp / "two" / "b", seed=2, series_number=2)
    return tmp / "two"


def _text_posing(tmp: Path) -> Path:
    folder = tmp / "posing"
    folder.mkdir()
    (folder / "slice1.dcm").write_text("this is not DICOM\n")
    return folder


BAD_INPUTS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing": (lambda tmp: tmp / "absent", "does not exist"),
    "empty": (_empty, ""),
    "mr_only": (_mr_only, "MR"),
    "truncated": (_truncated, ""),
    "several": (_two_series, "series"),
    "posing": (_text_posing, "slice1.dcm"),
}


# `info` lists every series it finds, MR and several series included: those are bad input only
# for commands that need one CT series.
CASES = [("simulate", case) for case in sorted(BAD_INPUTS)] + [
    ("info", case) for case in ("missing", "empty", "truncated", "posing")
]


@pytest.mark.parametrize(("command", "case"), CASES)
def test_bad_input_is_one_line_exit_2_nothing_written(
    command: str, case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, expected = BAD_INPUTS[case]
    source = make(tmp_path)
    before = _tree_digest(tmp_path)
    out = tmp_path / "out"
    argv = [command, str(source)] + (
        [str(out), "--slices", "2", "--size", "32", "--jobs", "1"] if command == "simulate" else []
    )
    capsys.readouterr()  # drop what building the input logged
    code = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured
    assert len(lines) == 1 and lines[0].startswith(f"radiomicgan {command}: error: "), lines
    assert "Traceback" not in captured.err
    assert expected in lines[0]
    assert not out.exists()
    assert _tree_digest(tmp_path) == before


def test_bad_config_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "sim.yaml"
    config.write_text("slicez: 3\n")
    assert main(["simulate", "phantom", str(tmp_path / "out"), "--config", str(config)]) == 2
    assert "unknown option 'slicez'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_info_summarizes_a_series(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_ct_series(tmp_path / "ct", kernel="B45f", slices=4)
    assert main(["info", str(tmp_path / "ct")]) == 0
    out = capsys.readouterr().out
    assert "B45f" in out and "CT" in out


def test_every_command_has_a_help_that_teaches() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, command in sub.choices.items():  # type: ignore[union-attr]
        text = command.format_help()
        assert "Examples:" in text, name


def test_module_entry_point_runs_as_a_process(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "radiomicgan", "info", str(tmp_path / "absent")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "does not exist" in result.stderr

"""`radiomicgan models` and `harmonize --model auto` on the command line: thin layers over the registry;
bad input is one line on stderr, exit 2, and nothing written."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from radiomicgan.cli import main
from registry.scans import Runs

Digests = Callable[[Path], dict[Path, str]]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    capsys.readouterr()
    assert main(argv) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    code = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2 and len(lines) == 1, captured
    assert lines[0].startswith(f"radiomicgan {argv[0]}: error: ")
    return lines[0].removeprefix(f"radiomicgan {argv[0]}: error: ")


def test_add_list_show_remove(runs: Runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = ["--registry", str(tmp_path / "models")]
    out, _ = _run(["models", "add", str(runs.strength3), "--name", "siemens-a3", *registry], capsys)
    assert out.splitlines() == [
        "registered siemens-a3 (wiener, Br40d/3 -> Br64d/3, SIEMENS)",
        str(tmp_path / "models" / "siemens-a3" / "MODEL_CARD.md"),
    ]
    _run(["models", "add", str(runs.strength2), "--name", "any-a2", *registry], capsys)
    out, _ = _run(["models", "list", *registry], capsys)
    assert [line.split() for line in out.splitlines()] == [
        ["NAME", "METHOD", "SOURCE", "->", "TARGET", "KERNEL", "MANUFACTURER"],
        ["any-a2", "wiener", "Br40d/2", "->", "Br64d/3", "(any)"],
        ["siemens-a3", "wiener", "Br40d/3", "->", "Br64d/3", "SIEMENS"],
    ]
    out, _ = _run(["models", "show", "siemens-a3", *registry], capsys)
    assert out == (tmp_path / "models" / "siemens-a3" / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert out.startswith("# siemens-a3\n") and "| source kernel (as DICOM stores it) | `Br40d\\3` |" in out
    out, _ = _run(["models", "remove", "any-a2", *registry], capsys)
    assert out.strip() == "removed any-a2"
    out, _ = _run(["models", "list", *registry, "-v"], capsys)
    assert "any-a2" not in out and "siemens-a3" in out


def test_the_default_registry_is_the_users_data_folder(
    runs: Runs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    out, _ = _run(["models", "list"], capsys)
    assert out.strip() == f"no models registered in {tmp_path / 'data' / 'radiomicgan' / 'models'}"
    _run(["models", "add", str(runs.strength3), "--name", "a3"], capsys)
    assert (tmp_path / "data" / "radiomicgan" / "models" / "a3" / "model.safetensors").is_file()


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        ("unknown name", r"models/nope: no model named 'nope' in the registry"),
        ("not a run", r"empty: no model\.safetensors in this folder \(not a radiomicgan run folder\)"),
        ("name taken", r"models/taken: a model named 'taken' is registered already \(use --overwrite"),
        ("unwritable registry", r"a-file/models/x: cannot create output \(Not a directory\)"),
        ("bad name", r"invalid model name '\.\./up'"),
        ("not an evaluation", r"empty/results\.json: not found: not an evaluation folder"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    case: str,
    problem: str,
    runs: Runs,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    tree_digests: Digests,
) -> None:
    models = tmp_path / "models"
    _run(["models", "add", str(runs.strength3), "--name", "taken", "--registry", str(models)], capsys)
    (tmp_path / "empty").mkdir()
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    add = ["models", "add", str(runs.strength2), "--registry", str(models)]
    argv = {
        "unknown name": ["models", "show", "nope", "--registry", str(models)],
        "not a run": ["models", "add", str(tmp_path / "empty"), "--name", "x", "--registry", str(models)],
        "name taken": [*add, "--name", "taken"],
        "unwritable registry": [*add[:-1], str(tmp_path / "a-file" / "models"), "--name", "x"],
        "bad name": [*add, "--name", "../up"],
        "not an evaluation": [*add, "--name", "x", "--evaluation", str(tmp_path / "empty")],
    }[case]
    before, run_before = tree_digests(tmp_path), tree_digests(runs.strength2)
    assert re.search(problem, _fails(argv, capsys))
    assert tree_digests(tmp_path) == before and tree_digests(runs.strength2) == run_before
    assert not [p for p in tmp_path.rglob(".*") if p.name != ".radiomicgan"]  # no temporary left


def test_harmonize_auto_skips_a_series_no_model_matches_with_one_line(
    runs: Runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    _run(["models", "add", str(runs.strength3), "--name", "siemens-a3", "--registry", str(models)], capsys)
    tree = tmp_path / "in"
    shutil.copytree(runs.scan3.source, tree / "a3")
    shutil.copytree(runs.scan2.source, tree / "a2")  # Br40d\2: not registered
    argv = ["harmonize", "--model", "auto", "--registry", str(models), str(tree), str(tmp_path / "out")]
    out, err = _run([*argv, "--device", "cpu", "--quiet"], capsys)
    assert out.split() == [str(tmp_path / "out" / "a3")]
    warnings = [line for line in err.splitlines() if "WARNING" in line]
    assert warnings[0] == (
        f"radiomicgan: WARNING: {tree / 'a2'}: skipped: no registered model for kernel Br40d/2, "
        "manufacturer unknown"
    )
    assert not (tmp_path / "out" / "a2").exists()


def test_harmonize_auto_refuses_one_unmatched_series_and_a_registry_without_auto(
    runs: Runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    _run(["models", "add", str(runs.strength3), "--name", "siemens-a3", "--registry", str(models)], capsys)
    out = tmp_path / "out"
    argv = ["harmonize", "--registry", str(models), str(runs.scan2.source), str(out), "--device", "cpu"]
    message = _fails([*argv, "--model", "auto"], capsys)
    assert message == f"{runs.scan2.source}: no registered model for kernel Br40d/2, manufacturer unknown"
    message = _fails([*argv, "--model", str(runs.strength2)], capsys)
    assert message == "harmonize: --registry is for --model auto; a model given by path needs none"
    assert not out.exists()

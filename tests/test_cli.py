"""The command line: every bad input is one line on stderr, exit code 2, nothing written, input untouched.

One table covers the bad-input matrix of every command: each case builds its input in `tmp_path`,
each command turns a case into an argv, and every (command, case) pair that applies is one test.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
import pytest
import torch
from safetensors.torch import save_file
from tests.conftest import PYDICOM_TEST_FILES, SyntheticSeries, make_ct_series

from radiomicgan.cli import build_parser, main, named_command
from radiomicgan.io import deterministic_uid
from radiomicgan.train import train
from training.pairs import SOURCE_KERNEL, tiny_config, tiny_config_yaml, write_scan

# The good series of every case share one study and frame of reference, so that only the fault
# under test keeps them from pairing. The model was trained on SOURCE_KERNEL: no kernel warning.
STUDY = deterministic_uid("cli-study")
FRAME = deterministic_uid("cli-frame")


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Bad:
    """One bad input on disk.

    Attributes:
        series: the input series (the bad one, or a good one when the fault lies elsewhere).
        at_fault: the file or folder the error message must name.
        problem: a regular expression the message must match after the path.
        out: where the command is told to write (None: tmp_path/'out').
        model: harmonize's --model (None: the tiny trained model).
    """

    series: Path
    at_fault: Path
    problem: str
    out: Path | None = None
    model: Path | None = None


def _series(folder: Path, seed: int = 0, **kwargs: Any) -> SyntheticSeries:
    options: dict[str, Any] = {"study_uid": STUDY, "frame_of_reference_uid": FRAME, **kwargs}
    return make_ct_series(folder, seed=seed, kernel=SOURCE_KERNEL, **options)


def _edit(path: Path, change: Callable[[pydicom.Dataset], None]) -> None:
    ds = pydicom.dcmread(path)
    change(ds)
    ds.save_as(path)


def _missing(tmp: Path) -> Bad:
    return Bad(tmp / "absent", tmp / "absent", "does not exist")


def _empty(tmp: Path) -> Bad:
    (tmp / "empty").mkdir()
    return Bad(tmp / "empty", tmp / "empty", "empty folder|no image series|no CT series")


def _truncated(tmp: Path) -> Bad:
    series = _series(tmp / "trunc", seed=3)
    victim = series.files[2]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    return Bad(series.folder, victim, "truncated")


def _posing(tmp: Path) -> Bad:
    folder = tmp / "posing"
    folder.mkdir()
    (folder / "slice1.dcm").write_text("this is not DICOM\n")
    return Bad(folder, folder / "slice1.dcm", "not a DICOM file")


def _mr_only(tmp: Path) -> Bad:
    folder = tmp / "mr"
    folder.mkdir()
    shutil.copy(PYDICOM_TEST_FILES / "MR_small.dcm", folder)
    return Bad(folder, folder, "MR|no CT series")


def _several(tmp: Path) -> Bad:
    # Both series of the scan that the good series belongs to: evaluate cannot choose either.
    _series(tmp / "two" / "a", seed=4, series_number=1)
    _series(tmp / "two" / "b", seed=5, series_number=2)
    return Bad(tmp / "two", tmp / "two", "2 CT series, choose one|2 series matching")


def _other_study(tmp: Path) -> Bad:
    series = _series(tmp / "other_study", seed=6, study_uid=deterministic_uid("another study"))
    return Bad(series.folder, series.folder, "study")


def _other_frame(tmp: Path) -> Bad:
    series = _series(tmp / "other_frame", seed=7, frame_of_reference_uid=deterministic_uid("another frame"))
    return Bad(series.folder, series.folder, "frame of reference")


def _other_spacing(tmp: Path) -> Bad:
    series = _series(tmp / "spacing", seed=8)
    _edit(series.files[3], lambda ds: setattr(ds, "PixelSpacing", [0.9, 0.68]))
    return Bad(series.folder, series.folder, "differ in PixelSpacing")


def _other_rows(tmp: Path) -> Bad:
    def crop(ds: pydicom.Dataset) -> None:
        ds.PixelData = ds.pixel_array[:-2].tobytes()
        ds.Rows = ds.Rows - 2

    series = _series(tmp / "rows", seed=9)
    _edit(series.files[3], crop)
    return Bad(series.folder, series.folder, "differ in size")


def _duplicate_position(tmp: Path) -> Bad:
    series = _series(tmp / "duplicate", seed=10)
    position = pydicom.dcmread(series.files[2]).ImagePositionPatient
    _edit(series.files[3], lambda ds: setattr(ds, "ImagePositionPatient", position))
    return Bad(series.folder, series.folder, "duplicate slice position")


def _missing_slice(tmp: Path) -> Bad:
    series = _series(tmp / "gap", seed=11)
    series.files[2].unlink()
    return Bad(series.folder, series.folder, "uneven slice spacing")


def _tree_one_bad(tmp: Path) -> Bad:
    # The good series comes first in the walk: it must not be written before the bad one fails.
    _series(tmp / "tree" / "a_good", seed=14, series_number=1)
    bad = _series(tmp / "tree" / "b_bad", seed=15, series_number=2)
    _edit(bad.files[3], lambda ds: setattr(ds, "PixelSpacing", [0.9, 0.68]))
    return Bad(tmp / "tree", bad.folder, "differ in PixelSpacing")


def _out_is_input(tmp: Path) -> Bad:
    series = _series(tmp / "ct", seed=12)
    return Bad(series.folder, series.folder, "(is|inside) the input", out=series.folder)


def _out_inside_input(tmp: Path) -> Bad:
    series = _series(tmp / "ct", seed=12)
    return Bad(series.folder, series.folder / "out", "inside the input", out=series.folder / "out")


def _model_text(tmp: Path) -> Bad:
    model = tmp / "model.safetensors"
    model.write_text("weights, honest\n")
    return Bad(_series(tmp / "ct", seed=13).folder, model, "not a radiomicgan model file", model=model)


def _model_foreign(tmp: Path) -> Bad:
    model = tmp / "foreign.safetensors"
    save_file({"weight": torch.zeros(3)}, model, metadata={"format": "pt"})
    return Bad(_series(tmp / "ct", seed=13).folder, model, "no radiomicgan metadata", model=model)


class _Payload:
    """Unpickling this creates `path`: proof that a model file ran code."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.path), "w")


def _model_pickle(tmp: Path) -> Bad:
    model = tmp / "model.pt"
    model.write_bytes(pickle.dumps(_Payload(tmp / "pwned")))
    return Bad(_series(tmp / "ct", seed=13).folder, model, "pickle", model=model)


def _model_pickle_renamed(tmp: Path) -> Bad:
    # A run folder whose model.safetensors is a pickle in disguise.
    (tmp / "run").mkdir()
    model = tmp / "run" / "model.safetensors"
    model.write_bytes(pickle.dumps(_Payload(tmp / "pwned")))
    return Bad(_series(tmp / "ct", seed=13).folder, model, "not a radiomicgan model file", model=tmp / "run")


CASES: dict[str, Callable[[Path], Bad]] = {
    "missing": _missing,
    "empty": _empty,
    "truncated": _truncated,
    "posing": _posing,
    "mr_only": _mr_only,
    "several": _several,
    "other_study": _other_study,
    "other_frame": _other_frame,
    "other_spacing": _other_spacing,
    "other_rows": _other_rows,
    "duplicate_position": _duplicate_position,
    "missing_slice": _missing_slice,
    "tree_one_bad": _tree_one_bad,
    "out_is_input": _out_is_input,
    "out_inside_input": _out_inside_input,
    "model_text": _model_text,
    "model_foreign": _model_foreign,
    "model_pickle": _model_pickle,
    "model_pickle_renamed": _model_pickle_renamed,
}
READING = ("missing", "empty", "truncated", "posing")
ONE_CT_SERIES = ("mr_only", "several")
PAIRING = ("other_study", "other_frame")
GEOMETRY = ("other_spacing", "other_rows", "duplicate_position", "missing_slice")
OUTPUT = ("out_is_input", "out_inside_input")
MODEL = ("model_text", "model_foreign", "model_pickle", "model_pickle_renamed")

# `info` lists every series it finds (MR, several series, a series with a problem and the reason,
# an unreadable file: tests/commands/test_info.py): its bad input is a path that holds nothing it can
# list. `harmonize` takes a tree of many series.
APPLIES = {
    "info": ("missing", "empty", "posing"),
    "simulate": (*READING, *ONE_CT_SERIES, *GEOMETRY, *OUTPUT),
    "train": (*READING, *ONE_CT_SERIES, *PAIRING, *GEOMETRY, *OUTPUT),
    "harmonize": (*READING, "mr_only", *GEOMETRY, "tree_one_bad", *OUTPUT, *MODEL),
    "evaluate": (*READING, *ONE_CT_SERIES, *PAIRING, *GEOMETRY, *OUTPUT),
}
TABLE = [(command, case) for command, cases in APPLIES.items() for case in cases]


@dataclass(frozen=True)
class Shared:
    """What every case may use and none may change: a good series, a model, a training config."""

    good: Path
    model: Path
    train_yaml: Path


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Shared:
    root = tmp_path_factory.mktemp("shared")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine's cores are shared
    try:
        config = tiny_config(write_scan(root / "scan"), root / "run", epochs=1, steps_per_epoch=1)
        result = train(config, progress=False)
    finally:
        torch.set_num_threads(threads)
    good = _series(root / "good").folder
    return Shared(good, result.model_path, tiny_config_yaml(root / "train.yaml"))


def _argv(command: str, bad: Bad, out: Path, shared: Shared) -> list[str]:
    series = str(bad.series)
    if command == "info":
        return ["info", series]
    if command == "simulate":
        return ["simulate", series, str(out), "--slices", "2", "--size", "32", "--jobs", "1", "--overwrite"]
    if command == "train":
        pair = ["--source", series, "--target", str(shared.good)]
        return ["train", "--config", str(shared.train_yaml), *pair, "--out", str(out), "--quiet"]
    if command == "harmonize":
        model = str(bad.model or shared.model)
        return ["harmonize", "--model", model, series, str(out), "--device", "cpu", "--overwrite", "--quiet"]
    return [
        "evaluate", "--reference", str(shared.good), "--candidate", f"input={series}", "--out", str(out),
        "--rois", "3", "--repeats", "1", "--jobs", "1", "--no-cache", "--overwrite", "--quiet",
    ]  # fmt: skip


@pytest.mark.parametrize(("command", "case"), TABLE)
def test_bad_input_is_one_line_exit_2_nothing_written(
    command: str, case: str, shared: Shared, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = CASES[case](tmp_path)
    out = bad.out or tmp_path / "out"
    before, shared_before = _tree_digest(tmp_path), _tree_digest(shared.model.parent.parent)
    capsys.readouterr()  # drop what building the input logged
    code = main(_argv(command, bad, out, shared))
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured
    assert len(lines) == 1 and lines[0].startswith(f"radiomicgan {command}: error: "), lines
    assert "Traceback" not in captured.err
    message = lines[0].removeprefix(f"radiomicgan {command}: error: ")
    assert message.startswith(f"{bad.at_fault}: "), message
    assert re.search(bad.problem, message), message
    assert out == bad.series or not out.exists()
    assert not (tmp_path / "pwned").exists()  # no model file ran code
    assert _tree_digest(tmp_path) == before
    assert _tree_digest(shared.model.parent.parent) == shared_before


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


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["harmonize", "--model", "m", "in", "out"], "harmonize"),
        (["-v", "train", "--out", "o"], "train"),
        (["--version"], None),
        (["bogus", "harmonize"], None),
        ([], None),
    ],
)
def test_the_command_is_the_first_word_that_is_not_an_option(argv: list[str], command: str | None) -> None:
    assert named_command(argv) == command


def test_harmonize_starts_without_the_evaluation_stack() -> None:
    # the start-up a series pays (issue 21): the other commands' modules would load these
    code = (
        "import sys; from radiomicgan.cli import build_parser; "
        "build_parser('harmonize').parse_args(['harmonize', '--model', 'm', 'in', 'out']); "
        "print(sorted({'pandas', 'matplotlib', 'radiomics', 'radiomicgan.evaluate', "
        "'radiomicgan.training', 'radiomicgan.simulate'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_command_parses_alike_from_the_lean_and_the_full_parser() -> None:
    argv = ["-v", "harmonize", "--model", "m", "--batch-size", "2", "in", "out"]
    lean = vars(build_parser(named_command(argv)).parse_args(argv))
    full = vars(build_parser().parse_args(argv))
    assert lean == full and lean["verbose"] is True


def test_an_unknown_command_is_refused_with_the_commands_listed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["harmonise", "in", "out"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'harmonise'" in capsys.readouterr().err


def test_module_entry_point_runs_as_a_process(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "radiomicgan", "info", str(tmp_path / "absent")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "does not exist" in result.stderr


# --- --overwrite replaces only what radiomicgan wrote (issue 15) -------------------------------------

SIMULATE = ["--slices", "1", "--size", "32", "--kernels", "smooth", "--jobs", "1", "--quiet"]


def _foreign_files(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "notes.txt").write_text("important")
    (out / "sub").mkdir()


def test_simulate_overwrite_refuses_a_folder_it_did_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ow"
    _foreign_files(out)
    before = _tree_digest(tmp_path)
    assert main(["simulate", "phantom", str(out), *SIMULATE, "--overwrite"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"radiomicgan simulate: error: {out}: holds notes.txt, which is not radiomicgan's output; "
        "--overwrite replaces only what radiomicgan wrote (move it away or choose another output)"
    ]
    assert _tree_digest(tmp_path) == before


def test_simulate_overwrite_replaces_its_own_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pairs"
    out.mkdir()  # made ready and empty: filled without --overwrite
    assert main(["simulate", "phantom", str(out), *SIMULATE]) == 0
    (out / ".radiomicgan").unlink()  # as an output written before the marker: known by its DICOM files
    assert main(["simulate", "phantom", str(out), *SIMULATE, "--kernels", "sharp", "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [".radiomicgan", "sharp"]
    capsys.readouterr()


# --- presets and doses (issue 17) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--kernels", "smooth+ir9,sharp"],
            "simulation: kernels: reconstruction 'smooth+ir9': the iterative strength must be 1 to 5, "
            "got '9' (e.g. smooth+ir3)",
        ),
        (
            ["--kernels", "B70f+ir2"],
            "simulation: kernels: unknown kernel 'B70f' in 'B70f+ir2' (known: smooth, medium, sharp, "
            "each alone or with +ir1 .. +ir5)",
        ),
        (["--standard", "sharp+ir0"], "simulation: standard kernel: reconstruction 'sharp+ir0'"),
        (["--dose", "smooth+ir3=0.5"], "simulation: dose for unknown series 'smooth+ir3' (series: smooth)"),
        (
            ["--dose", "smooth=1.5"],
            "simulation: dose of 'smooth' must be a fraction of full dose in (0, 1], got 1.5",
        ),
        (["--dose", "smooth=0"], "got 0.0"),
        (["--dose", "smooth"], "--dose expects SERIES=FACTOR (e.g. smooth+ir3=0.25), got 'smooth'"),
        (["--dose", "smooth=0.5", "--dose", "smooth=0.2"], "--dose: the series 'smooth' is given twice"),
    ],
)
def test_simulate_bad_presets_and_doses_are_one_line_exit_2(
    options: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["simulate", "phantom", str(out), *SIMULATE, *options]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("radiomicgan simulate: error: "), lines
    assert message in lines[0]
    assert not out.exists()


def test_simulate_writes_a_reduced_dose_series_beside_the_full_dose_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pairs"
    options = ["--kernels", "smooth,sharp", "--dose", "smooth=0.25", "--retest", "--dose", "sharp_retest=0.5"]
    assert main(["simulate", "phantom", str(out), *SIMULATE, *options]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        ".radiomicgan",
        "sharp",
        "sharp_retest_dose50",
        "smooth_dose25",
    ]
    ds = pydicom.dcmread(next((out / "smooth_dose25").iterdir()))
    assert ds.SeriesDescription == "smooth kernel (Siemens Br40-like), 25 % dose"
    assert ds.ConvolutionKernel == "smooth"
    assert "smooth_dose25" in capsys.readouterr().out


def test_simulate_help_lists_the_presets_strengths_and_dose(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    text = capsys.readouterr().out
    assert "smooth, medium, sharp" in text and "+ir1 .. +ir5" in text
    assert "--dose SERIES=FACTOR" in text and "smooth+ir3_dose25" in text


# --- consistency (issue 15) ---------------------------------------------------------------------------


def test_version_is_the_packages_and_the_readmes(capsys: pytest.CaptureFixture[str]) -> None:
    from radiomicgan import __version__

    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"radiomicgan {__version__}"
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert f"> Status (v{__version__}):" in readme


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_works_before_and_after_the_command(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    series = make_ct_series(tmp_path / "ct", slices=2).folder
    argv = ["-v", "info", str(series)] if where == "before" else ["info", str(series), "-v"]
    assert main(argv) == 0
    assert logging.getLogger("radiomicgan").level == logging.DEBUG
    assert main(["info", str(series)]) == 0
    assert logging.getLogger("radiomicgan").level == logging.INFO
    capsys.readouterr()


def test_simulate_logs_a_few_progress_lines_to_a_file_and_is_quiet_when_asked(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "radiomicgan", "simulate", "phantom"]
    options = ["--slices", "3", "--size", "32", "--kernels", "smooth,sharp", "--jobs", "1"]
    with (tmp_path / "log.txt").open("w") as log:  # stderr to a file, as a batch job's
        subprocess.run([*base, str(tmp_path / "a"), *options], stderr=log, check=True)
    text = (tmp_path / "log.txt").read_text()
    assert "\r" not in text
    progress = [line for line in text.splitlines() if "simulate: slice" in line]
    assert progress == [f"radiomicgan: INFO: simulate: slice {n}/3" for n in range(1, 4)]  # one per slice
    quiet = subprocess.run([*base, str(tmp_path / "b"), *options, "--quiet"], capture_output=True, text=True)
    assert quiet.returncode == 0 and "simulate: slice" not in quiet.stderr


def test_train_logs_one_line_per_epoch_to_a_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scan = write_scan(tmp_path / "data")
    config = tiny_config_yaml(tmp_path / "train.yaml")  # 2 epochs of 2 steps
    pair = ["--source", str(scan.source), "--target", str(scan.target)]
    capsys.readouterr()
    assert main(["train", "--config", str(config), *pair, "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err  # not a terminal, as a batch job's log
    assert "\r" not in err
    epochs = [line for line in err.splitlines() if re.match(r"radiomicgan: INFO: epoch \d+", line)]
    assert [line.split(":")[2] for line in epochs] == [" epoch 1", " epoch 2"]

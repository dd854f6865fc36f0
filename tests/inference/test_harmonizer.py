"""What a loaded harmonizer says about itself (inference/harmonizer.py): provenance in the log, a window
beyond the last training window, and the engine it falls back to (issue 15, item 10)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from radiomicgan.cli import main
from radiomicgan.config import WindowConfig
from training.pairs import TINY_MODEL, Scan, train_tiny

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # the machine's two cores are shared


@pytest.fixture(scope="module")
def run_dir(scan: Scan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two epochs of the fixed schedule: the last training window is [-1024, -513] HU."""
    run = tmp_path_factory.mktemp("runs") / "run"
    model = replace(TINY_MODEL, prefilter="wiener")
    train_tiny(scan, run, window=WindowConfig(schedule="fixed", th_eta=1), model=model)
    return run


def _harmonize(run_dir: Path, scan: Scan, out: Path, *options: str) -> int:
    return main(["harmonize", "--model", str(run_dir), str(scan.source), str(out), "--quiet", *options])


def test_the_log_says_which_model_prefilter_window_device_precision_and_engine_ran(
    run_dir: Path, scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _harmonize(run_dir, scan, tmp_path / "out", "--engine", "torch") == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "prefilter" in line]
    assert len(lines) == 1
    line = lines[0]
    windows = ("[-1024, -513]", "[-1024, 1000]", "(full)")
    for expected in ("radiomicgan", "prefilter wiener", *windows, "cpu", "fp32"):
        assert expected in line, (expected, line)
    assert line.endswith("torch")


def test_harmonizing_beyond_the_last_training_window_warns_and_the_training_window_does_not(
    run_dir: Path, scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _harmonize(run_dir, scan, tmp_path / "full") == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "WARNING" in line]
    assert len(warnings) == 1 and "beyond" in warnings[0] and "--window training" in warnings[0]
    assert _harmonize(run_dir, scan, tmp_path / "training", "--window", "training") == 0
    assert "WARNING" not in capsys.readouterr().err


def test_a_missing_onnx_runtime_is_said_not_silently_skipped(
    run_dir: Path,
    scan: Scan,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("radiomicgan.inference.onnx_engine.onnx_runtime_available", lambda: False)
    assert _harmonize(run_dir, scan, tmp_path / "out") == 0
    err = capsys.readouterr().err
    assert "ONNX Runtime is not installed" in err and "radiomicgan[onnx]" in err


def test_a_refused_input_gets_its_one_error_line_and_no_provenance(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing"
    assert main(["harmonize", "--model", str(run_dir), str(missing), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(missing) in err

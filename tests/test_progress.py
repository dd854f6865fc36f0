"""Progress: a bar on a terminal, log lines (never carriage returns) anywhere else."""

from __future__ import annotations

import io
import logging

import pytest

from radiomicgan.progress import LoggedProgress, progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "radiomicgan.progress"]


def test_not_a_terminal_logs_one_line_per_coarse_unit(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO)
    with progress_bar(total=3, desc="series", unit="series", log_every="unit") as bar:
        for _ in range(3):
            bar.update()
    assert isinstance(bar, LoggedProgress)
    assert _lines(caplog) == ["series 1/3", "series 2/3", "series 3/3"]
    assert "\r" not in capsys.readouterr().err


def test_fine_units_log_about_ten_lines_and_the_last(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    assert list(progress_bar(range(95), desc="features", unit="roi")) == list(range(95))
    lines = _lines(caplog)
    assert len(lines) == 10 and lines[0] == "features: roi 10/95" and lines[-1] == "features: roi 95/95"


def test_inner_and_quiet_loops_log_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    bar = progress_bar(range(4), desc="epoch 1/2", unit="step", log_every="never")
    for _ in bar:
        bar.set_postfix({"loss": "0.1"})
    assert list(progress_bar(range(4), desc="x", unit="y", enabled=False)) == [0, 1, 2, 3]
    assert _lines(caplog) == []


def test_a_terminal_gets_a_tqdm_bar(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    caplog.set_level(logging.INFO)
    assert sum(progress_bar(range(3), desc="simulate", unit="slice")) == 3
    assert "simulate" in terminal.getvalue() and "\r" in terminal.getvalue()
    assert _lines(caplog) == []

"""`radiomicgan serve` as a real process: killed (SIGKILL) and restarted, the series arrives once;
SIGTERM drains; bad input at start-up is one line and exit 2; --status lists the spool.

A kill while a series is being sent is tested without a process (tests/node/test_worker.py): a
process start costs seconds of imports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

import radiomicgan
from node.harness import Orthanc, free_port, storescu, train_wiener, wait_until, write_series
from radiomicgan.cli import main
from radiomicgan.node.spool import Spool, series_key
from training.pairs import Scan

FAST_YAML = (
    "retry_initial_s: 0.2\nretry_max_s: 1.0\ntimeout_s: 5\ndrain_s: 2\n"
    "harmonize: {device: cpu, engine: torch}\n"
)


@pytest.fixture(scope="module")
def model(scan: Scan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_wiener(scan, tmp_path_factory.mktemp("serve-model"))


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    server = Orthanc(tmp_path_factory.mktemp("orthanc"))
    server.start()
    yield server
    server.kill()


class NodeProcess:
    """`python -m radiomicgan serve ARGS` in its own process, its log in a file."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        env = os.environ | {"PYTHONPATH": str(Path(radiomicgan.__file__).parents[1])}
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "radiomicgan", "serve", *args], stderr=out, stdout=out, env=env
            )
        wait_until(self._listening, 60, "the node to listen")

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def _listening(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"the node exited with {self.process.returncode}:\n{self.text()}")
        return "listening on port" in self.text()


@pytest.mark.slow
def test_a_node_killed_after_the_last_c_store_sends_the_series_once_and_drains_on_sigterm(
    model: Path, orthanc: Orthanc, tmp_path: Path
) -> None:
    series = write_series(tmp_path / "in", "killed", slices=10)
    spool, port, log = tmp_path / "spool", free_port(), tmp_path / "node.log"
    (tmp_path / "node.yaml").write_text(FAST_YAML)
    args = ["--model", str(model), "--port", str(port), "--forward", orthanc.forward, "--spool", str(spool)]
    args += ["--series-idle", "1", "--config", str(tmp_path / "node.yaml")]
    key = series_key(str(pydicom.dcmread(series.files[0]).SeriesInstanceUID))

    node = NodeProcess(args, log)
    storescu(port, series.files)
    node.kill()  # right after the last C-STORE response: acknowledged, not yet sent
    assert len(list((spool / "incoming" / key).glob("*.dcm"))) == len(series.files)
    assert orthanc.counts(series.study_uid) == (0, 0)

    node = NodeProcess(args, log)
    orthanc.wait_for(series.study_uid, len(series.files))
    wait_until((spool / "sent" / f"{key}.json").exists, 30, "the sent record")
    assert orthanc.counts(series.study_uid) == (1, len(series.files))
    assert list((spool / "incoming").iterdir()) == []

    node.process.send_signal(signal.SIGTERM)
    assert node.process.wait(timeout=30) == 0
    text = node.text()
    assert "SIGTERM received" in text and "node stopped (0 series left in the spool" in text
    assert "Traceback" not in text
    assert "1.2.826" not in text and "TEST01" not in text and "Phantom" not in text  # no UID, no patient


def test_bad_input_at_start_up_is_one_line_exit_2_and_no_spool(
    model: Path, orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spool = tmp_path / "spool"
    base = ["serve", "--model", str(model), "--port", "0", "--spool", str(spool)]
    not_ours = tmp_path / "model.safetensors"
    not_ours.write_bytes(b"not a model")
    (tmp_path / "file").write_text("a file")
    cases = [
        ([*base, "--forward", f"PACS@127.0.0.1:{free_port()}"], "no association"),
        (["serve", "--model", str(not_ours), "--port", "0", "--spool", str(spool),
          "--forward", orthanc.forward], str(not_ours)),
        (["serve", "--model", str(model), "--port", "0", "--forward", orthanc.forward,
          "--spool", str(tmp_path / "file" / "spool")], "spool is not writable"),
        (["serve", "--port", "0", "--spool", str(spool), "--forward", orthanc.forward], "--model"),
        ([*base, "--forward", orthanc.forward, "--ae-title", "A_TITLE_OF_17_CHAR"], "not a DICOM AE title"),
        (["serve", "--model", "auto", "--registry", str(tmp_path / "empty"), "--port", "0",
          "--spool", str(spool), "--forward", orthanc.forward], "no model is registered"),
        ([*base, "--forward", orthanc.forward, "--registry", str(tmp_path)], "is for --model auto"),
    ]  # fmt: skip
    for argv, expected in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("radiomicgan serve: error: ") and err.count("\n") == 1, err
        assert expected in err
        assert not spool.exists()


def test_a_port_in_use_is_one_line_exit_2_and_frees_the_spool(
    model: Path, orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spool = tmp_path / "spool"
    with socket.socket() as taken:
        taken.bind(("", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        argv = [
            "serve",
            "--model",
            str(model),
            "--port",
            port,
            "--forward",
            orthanc.forward,
            "--spool",
            str(spool),
        ]
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot listen on *:{port} (Address already in use)" in err
    Spool.open(spool).close()  # not left locked


def test_status_lists_the_spool(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spool = Spool.open(tmp_path / "spool")
    spool.store("1.2.3", "1.2.3.1", b"x")
    spool.close()
    assert main(["serve", "--status", "--spool", str(tmp_path / "spool")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "1 pending, 0 quarantined, 0 sent"
    assert series_key("1.2.3") in out
    assert main(["serve", "--status"]) == 2
    assert "--status needs --spool" in capsys.readouterr().err

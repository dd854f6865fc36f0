"""The run folder: its files by name, the checks before a run, and what it writes and reads back."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from radiomicgan.config import TrainConfig
from radiomicgan.errors import InputError, OutputError
from radiomicgan.io.ownership import MARKER
from radiomicgan.run_folder import RunFolder


def test_a_new_folder_gets_figures_the_marker_and_the_config(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.create(TrainConfig(epochs=3))
    assert {p.name for p in folder.path.iterdir()} == {"figures", MARKER, "config.yaml"}
    assert yaml.safe_load(folder.config_path.read_text())["epochs"] == 3
    assert folder.read_config()["epochs"] == 3


def test_history_is_written_whole_and_read_back(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    assert folder.read_history() == []
    history = [{"epoch": 1, "window_hu": [-1024, 1000]}]
    assert folder.write_history(history) == tmp_path / "history.json"
    assert folder.read_history() == history
    assert [p.name for p in tmp_path.iterdir()] == ["history.json"]  # no temporary file left


def test_a_folder_without_config_reads_as_empty_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    assert folder.read_config() == {}
    folder.config_path.write_text("- a list\n")
    with pytest.raises(InputError, match="not a mapping"):
        folder.read_config()


def test_cam_figures_are_found_by_epoch(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    folder.figures.mkdir()
    for epoch in (2, 11):
        folder.cam_figure(epoch).write_bytes(b"")
    (folder.figures / "cam_epochX.png").write_bytes(b"")
    assert folder.cam_figures() == {2: folder.cam_figure(2), 11: folder.cam_figure(11)}


def test_resuming_needs_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nothing to resume"):
        RunFolder(tmp_path).check_resumable()
    (tmp_path / "checkpoint.safetensors").write_bytes(b"")
    RunFolder(tmp_path).check_resumable()  # no error


def test_a_new_run_needs_an_empty_folder_outside_its_inputs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(OutputError, match="inside the input"):
        RunFolder(data / "run").check_writable([data], resume=False)
    with pytest.raises(OutputError, match="inside the input"):
        RunFolder(data).check_writable([data], resume=True)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "note.txt").write_text("mine")
    with pytest.raises(OutputError, match="not empty"):
        RunFolder(tmp_path / "run").check_writable([data], resume=False)
    RunFolder(tmp_path / "run").check_writable([data], resume=True)  # no error


def test_an_input_file_does_not_refuse_a_run_folder_beside_it(tmp_path: Path) -> None:
    scan = tmp_path / "scan.nrrd"
    scan.write_bytes(b"")
    RunFolder(tmp_path / "run").check_writable([scan], resume=False)  # no error
